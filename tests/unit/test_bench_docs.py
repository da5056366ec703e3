"""bench.docs: a benchmark report rendered as Markdown, written only between the page's markers."""

import json
import re
from pathlib import Path

import pytest

from bench.docs import BEGIN, END, main, render, replace_between

REPORT = {
    "meta": {
        "started_at": "2026-01-02T03:04:05+00:00",
        "command": "python -m bench",
        "quick": False,
    },
    "machine": {"cores": 2, "cpu_model": "Test CPU", "loadavg_at_start": [0.7, 0.5, 0.4]},
    "errors": {},
    "stages_us": {
        "decode_validate": {"n": 1000, "p50": 2.01, "p99": 3.5, "mean": 2.2},
        "normalise_predict": {"n": 10, "p50": 3.86, "p99": 4.4, "mean": 3.9},
        "pipeline": {"n": 10, "p50": 21.4, "p99": 25.0, "mean": 22.0, "batch": 1000},
    },
    "drain": {"service_eps": 39026.0, "passthrough_eps": 147476.0, "ratio": 0.2646},
    "latency_ms": [
        {"rate": 5000, "achieved_rate": 4990.0, "p50": 4.0, "p95": 6.0, "p99": 7.0, "max": 9.0}
    ],
}

PAGE = f"# Performance\n\nIntro stays.\n\n{BEGIN}\nold table\n{END}\n\n## After\n\nOutro stays.\n"


def test_render_makes_markdown_tables_from_the_report():
    text = render(REPORT, ".bench/latest.json")
    assert "A full run started 2026-01-02T03:04:05+00:00" in text
    assert "2 cores" in text and "`.bench/latest.json`" in text
    assert "| target" in text  # the targets table, checked against the report's own values
    assert "normalise + predict p50" in text and "3.86 µs" in text
    assert "decode_validate |" in text and "2.01" in text
    assert "39,026" in text and "147,476" in text
    assert "| rate (ev/s)" in text
    for line in text.splitlines():
        if line.startswith("|"):
            assert line.endswith("|")


def test_render_explains_the_scale_table_s_efficiency_per_core():
    scale = {"eps_by_processes": {"1": 10_000.0, "2": 18_000.0, "3": 19_000.0}, "cores": 2}
    text = render({**REPORT, "scale": {**scale, "partitions": 6, "timing": "How it is timed."}})
    assert "Scale: 1, 2, 3 service processes in one consumer group on 6 partitions" in text
    assert "eps(n) / (eps(1) × min(n, cores))" in text and "How it is timed." in text
    assert "| scale: processes" in text


def test_render_has_no_scale_line_without_a_scale_run():
    assert "Scale:" not in render(REPORT)


GUARANTEES = {
    "eps": {"at-least-once": 30_000.0, "exactly-once": 27_000.0},
    "eos_over_alos": 0.9,
    "latency_ms": {
        "at-least-once": [{"rate": 5000, "p50": 4.0, "p99": 9.0, "max": 12.0}],
        "exactly-once": [{"rate": 5000, "p50": 8.0, "p99": 21.0, "max": 30.0}],
    },
    "timing": "How both are timed.",
}


def test_render_puts_exactly_once_beside_at_least_once_with_their_targets():
    text = re.sub(r" +", " ", render({**REPORT, "guarantees": GUARANTEES}))
    assert "| exactly-once / at-least-once | 0.90 |" in text
    assert "| exactly-once | 5,000 | 8.0 | 21.0 | 30.0 |" in text
    assert "Guarantees: How both are timed." in text
    assert "| exactly-once / at-least-once eps | 0.90 | >= 0.8 | yes |" in text
    assert "| exactly-once visible p99 at 5k ev/s | 21.00 ms | <= 50.0 ms | yes |" in text


def test_render_names_failed_steps():
    text = render({**REPORT, "errors": {"drain": "BenchError: service died"}})
    assert "drain: BenchError: service died" in text


def test_replace_between_keeps_everything_outside_the_markers():
    new = replace_between(PAGE, "| a |\n|---|\n| 1 |\n")
    before, rest = new.split(BEGIN)
    inside, after = rest.split(END)
    assert before == PAGE.split(BEGIN)[0]
    assert after == PAGE.split(END)[1]
    assert inside == "\n| a |\n|---|\n| 1 |\n"
    assert "old table" not in new
    assert replace_between(new, "| a |\n|---|\n| 1 |") == new  # idempotent


@pytest.mark.parametrize(
    "page",
    ["no markers at all", f"{END}\n{BEGIN}\n", f"{BEGIN}\n{BEGIN}\n{END}\n", f"{BEGIN} only"],
)
def test_replace_between_refuses_pages_without_one_ordered_pair_of_markers(page: str):
    with pytest.raises(ValueError):
        replace_between(page, "x")


def test_main_rewrites_the_page_from_a_report_file(tmp_path: Path):
    report_path, page = tmp_path / "latest.json", tmp_path / "performance.md"
    report_path.write_text(json.dumps(REPORT))
    page.write_text(PAGE)
    assert main([str(report_path), "--doc", str(page)]) == 0
    text = page.read_text()
    assert text.startswith("# Performance\n\nIntro stays.\n\n")
    assert text.endswith(f"{END}\n\n## After\n\nOutro stays.\n")
    assert "39,026" in text and "old table" not in text


def test_main_reports_a_page_without_markers(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    report_path, page = tmp_path / "latest.json", tmp_path / "performance.md"
    report_path.write_text(json.dumps(REPORT))
    page.write_text("# Performance\n")
    assert main([str(report_path), "--doc", str(page)]) == 2
    assert page.read_text() == "# Performance\n"
    assert "error:" in capsys.readouterr().err

"""Pure helpers of the benchmark suite: statistics, target checks and report formatting."""

import math

import pytest

from bench.report import (
    check_targets,
    efficiency,
    lookup,
    markdown,
    scale_eps,
    scale_summary,
    table,
)
from bench.stats import percentile, rate, ratio, summarize


def test_percentile_interpolates_like_numpy():
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 99) == pytest.approx(3.97)


def test_percentile_of_one_value_and_of_none():
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


def test_percentile_rejects_out_of_range():
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summarize_sorts_and_scales():
    s = summarize([3000, 1000, 2000], scale=1e-3)
    assert s["n"] == 3
    assert s["p50"] == pytest.approx(2.0)
    assert s["max"] == pytest.approx(3.0)
    assert s["mean"] == pytest.approx(2.0)


def test_rate_and_ratio_handle_zero():
    assert rate(100, 0.0) == 0.0
    assert rate(100, 2.0) == 50.0
    assert ratio(1.0, 0.0) is None
    assert ratio(1.0, 4.0) == 0.25


REPORT = {
    "stages_us": {"normalise_predict": {"p50": 6.0, "p99": 9.0, "mean": 6.5}},
    "drain": {"service_eps": 31_000.0, "passthrough_eps": 100_000.0, "ratio": 0.31},
    "latency_ms": [
        {"rate": 1000, "achieved_rate": 999.0, "p50": 4, "p95": 6, "p99": 8, "max": 9},
        {"rate": 5000, "achieved_rate": 4990.0, "p50": 5, "p95": 9, "p99": 12, "max": 20},
    ],
}


def test_lookup_selects_latency_entry_by_rate():
    assert lookup(REPORT, ("latency_ms", 5000, "p99")) == 12.0
    assert lookup(REPORT, ("latency_ms", 10000, "p99")) is None
    assert lookup(REPORT, ("scale", "ratio")) is None


def test_targets_are_checked_in_both_directions():
    targets = {t["name"]: t for t in check_targets(REPORT)}
    assert targets["service drain eps (1 process)"]["met"] is True
    assert targets["service / passthrough"]["met"] is False
    assert targets["normalise + predict p50"]["met"] is False
    assert targets["e2e p99 at 5k ev/s"]["met"] is False
    assert targets["pipeline per event p50"]["met"] is None  # not measured


def test_table_aligns_columns():
    lines = table(["name", "value"], [["a", 1.5], ["long name", 12_345.0]]).splitlines()
    assert lines[0].startswith("| name")
    assert len({len(line) for line in lines}) == 1
    assert "12,345" in lines[3]


def test_markdown_has_every_section():
    text = markdown(REPORT)
    assert "| target" in text and "| stage" in text and "| rate" in text
    assert "31,000" in text


def _runs(eps: dict[int, list[float]]) -> dict[int, list[dict[str, float]]]:
    return {n: [{"eps": e} for e in values] for n, values in eps.items()}


def test_efficiency_per_core_divides_by_the_cores_the_processes_can_use():
    eps = [(1, 10_000.0), (2, 18_000.0), (3, 19_000.0)]
    assert efficiency(eps, cores=2) == [1.0, 0.9, 0.95]  # 3 processes on 2 cores: 2 used
    assert efficiency(eps, cores=4) == [1.0, 0.9, pytest.approx(0.6333, abs=1e-4)]


def test_efficiency_is_unknown_without_one_process_or_the_core_count():
    assert efficiency([(2, 18_000.0), (3, 19_000.0)], cores=2) == [None, None]
    assert efficiency([(1, 10_000.0)], cores=None) == [None]


def test_scale_summary_takes_medians_per_process_count():
    summary = scale_summary(
        _runs({1: [10_000.0, 9_000.0, 11_000.0], 2: [16_000.0], 3: [17_000.0]}), cores=2
    )
    assert summary["processes"] == [1, 2, 3]
    assert summary["eps_by_processes"] == {"1": 10_000.0, "2": 16_000.0, "3": 17_000.0}
    assert summary["speedup"] == {"1": 1.0, "2": 1.6, "3": 1.7}
    assert summary["efficiency_per_core"] == {"1": 1.0, "2": 0.8, "3": 0.85}
    assert summary["cores"] == 2


def test_scale_summary_keeps_the_keys_older_reports_had():
    summary = scale_summary(_runs({1: [10_000.0, 12_000.0], 2: [15_000.0, 15_000.0]}), cores=2)
    assert summary["one_eps"] == 11_000.0 and summary["two_eps"] == 15_000.0
    assert summary["one_eps_per_round"] == [10_000.0, 12_000.0]
    assert summary["ratio"] == pytest.approx(15 / 11, abs=1e-4)
    assert "three_eps" not in summary


def test_scale_eps_reads_reports_from_before_the_three_process_run():
    old = {"one_eps": 36_527.0, "two_eps": 41_225.0, "ratio": 1.13}
    assert scale_eps(old) == [(1, 36_527.0), (2, 41_225.0)]
    new = {"eps_by_processes": {"3": 3.0, "1": 1.0, "2": 2.0}, "one_eps": 99.0}
    assert scale_eps(new) == [(1, 1.0), (2, 2.0), (3, 3.0)]


def test_markdown_shows_efficiency_per_core_for_each_process_count():
    scale = scale_summary(_runs({1: [10_000.0], 2: [18_000.0], 3: [19_000.0]}), cores=2)
    lines = markdown({"scale": scale}).splitlines()
    [header] = [line for line in lines if "efficiency per core" in line]
    rows = lines[lines.index(header) + 2 :]
    assert [row.split("|")[1].strip() for row in rows] == ["1", "2", "3"]
    assert [row.split("|")[-2].strip() for row in rows] == ["1.00", "0.90", "0.95"]


def test_markdown_renders_an_old_report_s_scale_with_the_machine_s_cores():
    text = markdown({"scale": {"one_eps": 36_527.0, "two_eps": 41_225.0}, "machine": {"cores": 2}})
    assert "36,527" in text and "41,225" in text
    assert "0.56" in text  # 41,225 / (36,527 × 2)


def test_markdown_leaves_out_a_scale_section_without_runs():
    assert "scale: processes" not in markdown({"scale": {"events": 100}})


def test_markdown_shows_the_redis_server_time_per_fingerprint():
    text = markdown({"dedup_memory": {"server_us_per_fingerprint": 2.87}})
    [row] = [line for line in text.splitlines() if "server time per fingerprint" in line]
    assert "2.87" in row

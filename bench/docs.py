"""`python -m bench.docs REPORT.json [--doc PAGE]`: put a benchmark report into the documentation.

Renders the JSON report that `python -m bench` writes (`.bench/latest.json` unless BENCH_OUT or
`--out` says otherwise) as Markdown, with the same tables `make bench` prints, and replaces what
lies between the `<!-- bench:begin -->` and `<!-- bench:end -->` markers of docs/performance.md
(or PAGE) with it. The rest of the page is left exactly as it is.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.report import fmt, markdown, scale_eps

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"
DEFAULT_PAGE = Path(__file__).resolve().parents[1] / "docs" / "performance.md"


def _run_line(report: dict[str, Any], source: str | None) -> str:
    """One sentence saying which run the tables come from and on what machine."""
    meta: dict[str, Any] = report.get("meta") or {}
    machine: dict[str, Any] = report.get("machine") or {}
    kind = "quick" if meta.get("quick") else "full"
    parts = [f"A {kind} run"]
    if meta.get("started_at"):
        parts.append(f"started {meta['started_at']}")
    if meta.get("command"):
        parts.append(f"(`{meta['command'].strip()}`)")
    where = []
    if machine.get("cores"):
        where.append(f"{machine['cores']} cores")
    if machine.get("cpu_model"):
        where.append(str(machine["cpu_model"]))
    if where:
        parts.append("on " + ", ".join(where))
    load = machine.get("loadavg_at_start")
    if isinstance(load, list) and load:
        parts.append(f"(load average {fmt(float(load[0]), 2)} at the start)")
    line = " ".join(parts) + "."
    if source:
        line += f" Rendered from `{source}` by `python -m bench.docs`; do not edit by hand."
    return line


def peer_line(report: dict[str, Any]) -> str | None:
    """What the peer row measures: which Quix Streams, how it was timed, how the job differs."""
    peer: dict[str, Any] = report.get("peer") or {}
    if peer.get("peer_eps") is None:
        return None
    versions: dict[str, Any] = peer.get("versions") or {}
    line = (
        f"Peer: the same job written in Quix Streams {versions.get('quixstreams', '?')} "
        f"(its own confluent-kafka {versions.get('confluent-kafka', '?')}, in a venv of its own), "
        "draining the same input topic in the same run; ours / Quix divides the drain step's "
        f"service events/s by its {fmt(float(peer['peer_eps']), 1)} events/s."
    )
    return " ".join(part for part in (line, peer.get("job"), peer.get("timing")) if part)


def scale_line(report: dict[str, Any]) -> str | None:
    """What the scale table measures and how to read its efficiency column."""
    scale: dict[str, Any] = report.get("scale") or {}
    pairs = scale_eps(scale)
    if not pairs:
        return None
    cores = scale.get("cores") or (report.get("machine") or {}).get("cores")
    counts = ", ".join(str(n) for n, _ in pairs)
    line = (
        f"Scale: {counts} service processes in one consumer group"
        + (f" on {scale['partitions']} partitions" if scale.get("partitions") else "")
        + (f", on {cores} cores" if cores else "")
        + "; efficiency per core = eps(n) / (eps(1) × min(n, cores)), so 1.0 is perfect scaling "
        "up to the core count, and processes beyond it share cores (with the producer and the "
        "broker, on one machine) rather than add any."
    )
    return " ".join(part for part in (line, scale.get("timing")) if part)


def guarantees_line(report: dict[str, Any]) -> str | None:
    """How the at-least-once / exactly-once tables were measured."""
    section: dict[str, Any] = report.get("guarantees") or {}
    if not section.get("eps"):
        return None
    return f"Guarantees: {section.get('timing', '')}".strip()


def render(report: dict[str, Any], source: str | None = None) -> str:
    """The Markdown block for one report: a line about the run, then its tables."""
    blocks = [
        _run_line(report, source),
        markdown(report),
        peer_line(report) or "",
        scale_line(report) or "",
        guarantees_line(report) or "",
    ]
    new_tokens = (report.get("stages_meta") or {}).get("predict_new_tokens_us")
    if isinstance(new_tokens, dict) and "cold" in new_tokens and "warm" in new_tokens:
        blocks.append(
            f"A batch of events made of {new_tokens.get('words', '?')} never-seen words each: "
            f"{fmt(float(new_tokens['cold']), 2)} µs per event the first time (token cache cold), "
            f"{fmt(float(new_tokens['warm']), 2)} µs the second."
        )
    errors: dict[str, Any] = report.get("errors") or {}
    if errors:
        failed = "; ".join(f"{step}: {message}" for step, message in errors.items())
        blocks.append(f"Steps that failed in this run: {failed}.")
    return "\n\n".join(block for block in blocks if block.strip())


def replace_between(text: str, block: str, begin: str = BEGIN, end: str = END) -> str:
    """`text` with everything between the `begin` and `end` markers replaced by `block`; the
    markers and everything outside them stay. Each marker must occur exactly once, `begin` first."""
    if text.count(begin) != 1 or text.count(end) != 1:
        raise ValueError(f"expected exactly one {begin!r} and one {end!r}")
    start = text.index(begin) + len(begin)
    stop = text.index(end)
    if stop < start:
        raise ValueError(f"{end!r} comes before {begin!r}")
    return f"{text[:start]}\n{block.strip()}\n{text[stop:]}"


def update(page: Path, report_path: Path) -> str:
    """Rewrite `page` with the rendered report between its markers; returns the new text."""
    report = json.loads(report_path.read_text(encoding="utf-8"))
    if not isinstance(report, dict):
        raise ValueError(f"{report_path} is not a benchmark report (a JSON object)")
    text = replace_between(page.read_text(encoding="utf-8"), render(report, str(report_path)))
    page.write_text(text, encoding="utf-8")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.docs", description=__doc__)
    parser.add_argument("report", type=Path, help="JSON report of `python -m bench`")
    parser.add_argument("--doc", type=Path, default=DEFAULT_PAGE, help="Markdown page to update")
    args = parser.parse_args(argv)
    try:
        update(args.doc, args.report)
    except (OSError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"updated {args.doc} from {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

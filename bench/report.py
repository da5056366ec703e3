"""Report assembly: machine and library facts, target checks, Markdown tables, the latency plot."""

import json
import math
import os
import platform
import statistics
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.cpu import PARTS
from bench.stats import ratio

LIBRARIES = (
    "confluent-kafka",
    "fasttext",
    "hiredis",
    "matplotlib",
    "numpy",
    "orjson",
    "prometheus-client",
    "pydantic",
    "pydantic-core",
    "redis",
)

# (name, where in the report, comparison, target, unit)
TARGETS = (
    ("service drain eps (1 process)", ("drain", "service_eps"), ">=", 30_000, "ev/s"),
    ("service / passthrough", ("drain", "ratio"), ">=", 0.5, ""),
    ("normalise + predict p50", ("stages_us", "normalise_predict", "p50"), "<=", 5.0, "µs"),
    ("pipeline per event p50", ("stages_us", "pipeline", "p50"), "<=", 20.0, "µs"),
    ("e2e p99 at 5k ev/s", ("latency_ms", 5000, "p99"), "<=", 10.0, "ms"),
    ("exactly-once / at-least-once eps", ("guarantees", "eos_over_alos"), ">=", 0.8, ""),
    (
        "exactly-once visible p99 at 5k ev/s",
        ("guarantees", "latency_ms", "exactly-once", 5000, "p99"),
        "<=",
        50.0,
        "ms",
    ),
)


# The scale step's process counts and their report keys (`<word>_eps`, `<word>_eps_per_round`);
# "one" and "two" are what reports have always had, so older reports still render.
SCALE_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def scale_eps(scale: dict[str, Any]) -> list[tuple[int, float]]:
    """(processes, events/s) per process count of a report's scale section, in order: from
    `eps_by_processes` when present, else from the `<word>_eps` keys (reports before it)."""
    by_n = scale.get("eps_by_processes")
    if isinstance(by_n, dict):
        pairs = [(int(n), float(eps)) for n, eps in by_n.items() if eps is not None]
    else:
        pairs = [
            (n, float(scale[f"{word}_eps"]))
            for n, word in SCALE_WORDS.items()
            if scale.get(f"{word}_eps") is not None
        ]
    return sorted(pairs)


def efficiency(eps: list[tuple[int, float]], cores: int | None) -> list[float | None]:
    """Efficiency per core of each (processes, events/s): eps(n) / (eps(1) × min(n, cores)).

    Scaling is bounded by the cores, not by the processes: past the core count, processes share
    cores, so a perfect group of n processes on c cores reaches min(n, c) × eps(1), which is 1.0
    here. None without a 1-process run or the core count."""
    one = dict(eps).get(1)
    if not one or not cores:
        return [None for _ in eps]
    return [round(e / (one * min(n, cores)), 4) for n, e in eps]


def scale_summary(runs: dict[int, list[dict[str, Any]]], cores: int | None) -> dict[str, Any]:
    """The scale section's figures from its runs (per process count, one result per round):
    median events/s per count, speed-ups over one process and efficiency per core, under both
    the per-count keys and the `<word>_eps` / `ratio` (2 / 1) keys older readers use."""
    medians = {n: statistics.median(r["eps"] for r in rs) for n, rs in sorted(runs.items()) if rs}
    pairs = sorted(medians.items())
    one = medians.get(1)
    out: dict[str, Any] = {
        "processes": [n for n, _ in pairs],
        "cores": cores,
        "eps_by_processes": {str(n): round(e, 1) for n, e in pairs},
        "speedup": {str(n): round(ratio(e, one) or 0.0, 4) for n, e in pairs if one},
        "efficiency_per_core": {
            str(n): eff for (n, _), eff in zip(pairs, efficiency(pairs, cores), strict=True)
        },
    }
    for n, e in pairs:
        word = SCALE_WORDS.get(n)
        if word:
            out[f"{word}_eps"] = round(e, 1)
            out[f"{word}_eps_per_round"] = [round(r["eps"], 1) for r in runs[n]]
    if one and 2 in medians:
        out["ratio"] = round(ratio(medians[2], one) or 0.0, 4)
    return out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["mem_total_gb"] = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    if hasattr(os, "getloadavg"):
        info["loadavg_at_start"] = [round(x, 2) for x in os.getloadavg()]
    return info


def library_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    try:
        import confluent_kafka

        versions["librdkafka"] = confluent_kafka.libversion()[0]
    except Exception:
        pass
    return versions


def lookup(report: dict[str, Any], path: tuple[Any, ...]) -> float | None:
    """Follows a path of keys; an int key into a list of dicts selects the entry whose `rate`
    equals it (for latency_ms)."""
    node: Any = report
    for key in path:
        if isinstance(node, list):
            node = next((x for x in node if isinstance(x, dict) and x.get("rate") == key), None)
        elif isinstance(node, dict):
            node = node.get(key)
        else:
            return None
        if node is None:
            return None
    return float(node) if isinstance(node, int | float) else None


def check_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, path, op, target, unit in TARGETS:
        value = lookup(report, path)
        met = None
        if value is not None and not math.isnan(value):
            met = value >= target if op == ">=" else value <= target
        out.append(
            {"name": name, "value": value, "op": op, "target": target, "unit": unit, "met": met}
        )
    return out


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    return str(value)


def table(headers: list[str], rows: list[list[Any]], digits: int = 1) -> str:
    cells = [[fmt(c, digits) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for row in cells:
        lines.append("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    parts = []
    targets = report.get("targets") or check_targets(report)
    parts.append(
        table(
            ["target", "measured", "goal", "met"],
            [
                [
                    t["name"],
                    f"{fmt(t['value'], 2)} {t['unit']}".strip(),
                    f"{t['op']} {fmt(t['target'], 1)} {t['unit']}".strip(),
                    t["met"],
                ]
                for t in targets
            ],
        )
    )
    stages = report.get("stages_us") or {}
    if stages:
        parts.append(
            table(
                ["stage (µs per event)", "p50", "p99", "mean"],
                [[name, s.get("p50"), s.get("p99"), s.get("mean")] for name, s in stages.items()],
                digits=2,
            )
        )
    drain, scale = report.get("drain") or {}, report.get("scale") or {}
    rows = []
    if drain:
        rows += [
            ["drain: service (1 process)", drain.get("service_eps")],
            ["drain: passthrough", drain.get("passthrough_eps")],
            ["drain: service / passthrough", drain.get("ratio")],
            ["drain: passthrough / service, process CPU per event", drain.get("ratio_by_cpu")],
        ]
        if drain.get("floor_eps") is not None:
            rows += [
                ["drain: floor (passthrough + the job's mandated calls)", drain["floor_eps"]],
                ["drain: floor / passthrough", drain.get("floor_ratio")],
                ["drain: service / floor", drain.get("service_over_floor")],
            ]
    peer = report.get("peer") or {}
    if peer.get("peer_eps") is not None:
        rows += [
            ["peer: Quix Streams (1 process)", peer.get("peer_eps")],
            ["drain: ours / Quix Streams", peer.get("ours_over_quix")],
        ]
    if "dedup_memory_bytes_per_million" in report:
        mb = report["dedup_memory_bytes_per_million"] / 1024**2
        rows.append(["dedup memory per 1M fingerprints (MiB)", mb])
    server_us = report.get("dedup_memory", {}).get("server_us_per_fingerprint")
    if server_us is not None:
        rows.append(["dedup Redis server time per fingerprint (µs)", server_us])
    if rows:
        parts.append(table(["throughput", "events/s (or ratio)"], rows, digits=2))
    if peer.get("skipped"):
        parts.append(f"Peer (Quix Streams) skipped: {peer['skipped']}")
    parts.extend(cpu_table(report))
    pairs = scale_eps(scale)
    if pairs:
        cores = scale.get("cores") or (report.get("machine") or {}).get("cores")
        one = dict(pairs).get(1)
        parts.append(
            table(
                ["scale: processes", "events/s", "n / 1", "cores used", "efficiency per core"],
                [
                    [n, eps, ratio(eps, one) if one else None, min(n, cores) if cores else None, e]
                    for (n, eps), e in zip(pairs, efficiency(pairs, cores), strict=True)
                ],
                digits=2,
            )
        )
    latency = report.get("latency_ms") or []
    if latency:
        parts.append(
            table(
                ["rate (ev/s)", "achieved", "p50 ms", "p95 ms", "p99 ms", "max ms"],
                [
                    [r["rate"], r.get("achieved_rate"), r["p50"], r["p95"], r["p99"], r["max"]]
                    for r in latency
                ],
            )
        )
    parts.extend(guarantees_tables(report.get("guarantees") or {}))
    return "\n\n".join(parts)


def cpu_table(report: dict[str, Any]) -> list[str]:
    """µs of CPU per event by part: the drain step's service, passthrough and floor, and the
    peer."""
    by_run = dict((report.get("drain") or {}).get("cpu_us_per_event") or {})
    peer = (report.get("peer") or {}).get("cpu_us_per_event")
    if peer:
        by_run["peer (Quix Streams)"] = peer
    if not by_run:
        return []
    return [
        table(
            ["drain: CPU µs per event", *PARTS],
            [[run, *[values.get(part) for part in PARTS]] for run, values in by_run.items()],
            digits=2,
        )
    ]


def guarantees_tables(section: dict[str, Any]) -> list[str]:
    """The guarantees step: both modes' drain eps and their ratio, and visible latency per rate."""
    eps = section.get("eps") or {}
    if not eps:
        return []
    parts = [
        table(
            ["guarantee", "drain events/s"],
            [
                *[[mode, value] for mode, value in eps.items()],
                ["exactly-once / at-least-once", section.get("eos_over_alos")],
            ],
            digits=2,
        )
    ]
    rows = [
        [mode, r["rate"], r["p50"], r["p99"], r["max"]]
        for mode, results in (section.get("latency_ms") or {}).items()
        for r in results
    ]
    if rows:
        parts.append(
            table(["guarantee", "rate (ev/s)", "visible p50 ms", "p99 ms", "max ms"], rows)
        )
    return parts


def write_json(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str) + "\n")
    tmp.replace(path)


def plot_latency(latency: list[dict[str, Any]], path: Path, title: str = "") -> Path | None:
    if not latency:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = [r["rate"] for r in latency]
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    for key, style in (("p50", "o-"), ("p95", "s--"), ("p99", "^-")):
        ax.plot(rates, [r[key] for r in latency], style, label=key)
    for r in latency:
        if r.get("achieved_rate"):
            ax.annotate(
                f"{r['achieved_rate']:,.0f}/s",
                (r["rate"], r["p99"]),
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
                fontsize=7,
            )
    ax.axhline(10.0, color="grey", linewidth=0.8, linestyle=":", label="10 ms target (p99 @ 5k)")
    ax.set_xlabel("offered rate (events/s)")
    ax.set_ylabel("broker append → output appended (ms)")
    ax.set_yscale("log")
    ax.set_title(title or "End-to-end latency vs rate")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path

"""Paired in-process comparison of this tree against another git revision.

`python -m bench.compare REV [--measure predict|normalise_predict|one_event|pipeline|drain]
[--rounds 3] [--against REV2] [--events N]` (predict: from normalised fields, as the service calls
it; normalise_predict: from raw fields; one_event: a batch of one; pipeline: `Pipeline.process`
without the Redis round trip; drain: each tree's service process draining the same preloaded
topic, as the bench's drain step runs it, beside this tree's passthrough in every round).
`--against REV2` measures REV2 in place of this tree: how the gain of one past change is
reproduced, e.g. the commit that brought in a compiled module against its parent.

Machines drift by more than the changes worth measuring, so each round runs the same measurement
in a fresh interpreter for REV (a temporary git worktree) and for this tree, back to back, and the
medians are compared: one ratio from one run. All use this tree's model artifact (MODEL_DIR) and
the same bench-style events (`loadgen.replay.generate_events`, seed 7). Revisions from before
the runtime package (`inference/`) are measured through their own layout. A drain needs the local
broker and Redis, and a revision whose service reads this tree's environment and artifact.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import cpu, drain, infra
from consumer.config import Settings

ROOT = infra.ROOT

# Runs with `sys.argv[1]` (a source tree) first on the path; prints the median µs per event.
_MEASURE = r"""
import json, os, statistics, sys, time
tree = sys.argv[1]
sys.path[:] = [tree] + [p for p in sys.path if p not in ("", os.getcwd())]
# Revisions before the runtime package (inference/) kept the model code in training/ and the load
# generator in consumer/; pick by the tree's own layout, never by what happens to import.
if os.path.isdir(os.path.join(tree, "inference")):
    from inference.artifact import load_artifact
    from inference.text import normalise_text
    from loadgen.replay import generate_events
else:
    from consumer.replay import generate_events
    from training.artifact import load_artifact
    from training.text import normalise_text
from training.data import load

tree, measure, dataset, model_dir = sys.argv[1:5]
artifact = load_artifact(model_dir)
events = list(generate_events(load(dataset).examples, 20_000, 0.0, 7, "c"))
if measure == "one_event":
    pairs = [(normalise_text(e["title"]), normalise_text(e["description"])) for e in events[:2000]]
    calls = [[p] for p in pairs]
    run, per = artifact.classifier.predict_normalised, 1
elif measure == "predict":
    pairs = [(normalise_text(e["title"]), normalise_text(e["description"])) for e in events]
    calls = [pairs[k : k + 1000] for k in range(0, len(pairs), 1000)]
    run, per = artifact.classifier.predict_normalised, 1000
elif measure == "normalise_predict":
    pairs = [(e["title"], e["description"]) for e in events]
    calls = [pairs[k : k + 1000] for k in range(0, len(pairs), 1000)]
    run, per = artifact.classifier.predict_many, 1000
else:
    import orjson
    from consumer.metrics import Metrics
    from consumer.pipeline import Pipeline
    from schemas.topics import DEFAULT_TOPICS

    class NoDedup:  # the pipeline's own work only, no Redis round trip
        def check(self, fingerprints, ids, positions):
            return [None] * len(fingerprints)

    class Record:
        def __init__(self, value, offset):
            self.v, self.o = value, offset
        def value(self): return self.v
        def key(self): return None
        def topic(self): return DEFAULT_TOPICS.input
        def partition(self): return 0
        def offset(self): return self.o
        def timestamp(self): return (2, 1)

    records = [Record(orjson.dumps(e), i) for i, e in enumerate(events)]
    calls = [records[k : k + 1000] for k in range(0, len(records), 1000)]
    run = Pipeline(artifact, NoDedup(), DEFAULT_TOPICS, Metrics(), 256 * 1024).process
    per = 1000
for call in calls:  # warm the token cache
    run(call)
times = []
for _ in range(3):
    for call in calls:
        started = time.perf_counter()
        run(call)
        times.append((time.perf_counter() - started) / per * 1e6)
print(json.dumps(statistics.median(times)))
"""


def _python(argv: list[str], cwd: Path, what: str) -> str:
    """stdout of `python argv...` in `cwd`; its stderr's tail in the error if it fails."""
    out = subprocess.run(
        [sys.executable, *argv], cwd=cwd, capture_output=True, text=True, check=False
    )
    if out.returncode:
        raise infra.BenchError(f"{what} failed:\n{out.stderr[-3000:]}")
    return out.stdout


def _build_extensions(tree: Path) -> None:
    """Compile a revision's Cython modules in its own tree, as `pip install -e` does in this one
    (declared in setup.py, or in early revisions in pyproject.toml's ext-modules table)."""
    if (tree / "setup.py").exists():
        _python(["setup.py", "build_ext", "--inplace"], tree, f"building {tree}'s extensions")
    elif "ext-modules" in (tree / "pyproject.toml").read_text():
        build = ["-c", "from setuptools import setup; setup()", "build_ext", "--inplace"]
        _python(build, tree, f"building {tree}'s extensions")


def _drain(labels: list[str], trees: list[Path], rounds: int, events: int) -> dict[str, Any]:
    """Per tree, one record per round: events/s, the ratio to that round's passthrough, and CPU
    µs per event of each part (`bench.cpu`). One preloaded topic of bench events, each run with
    its own group and dedup key; per round the passthrough, then the trees' services, taking
    turns at going first."""
    from loadgen.replay import generate_events
    from training.data import load

    settings = Settings()
    stack = infra.Stack(
        settings.kafka_bootstrap_servers, settings.redis_url, settings.model_dir.resolve()
    )
    run = infra.run_id()
    examples = load(infra.dataset()).examples
    generated = generate_events(examples, events, infra.DUPLICATE_SHARE, infra.SEED, f"c{run}")
    values = [dict(e, id=f"c-{i}") for i, e in enumerate(generated)]
    topics = infra.make_topics(stack.bootstrap, f"bench-compare-{run}", infra.PARTITIONS)
    results: dict[str, list[dict[str, Any]]] = {label: [] for label in labels}
    try:
        infra.preload(stack.bootstrap, topics.input, values)
        spec = drain.DrainSpec(
            stack, topics.input, events, infra.PARTITIONS, ROOT / ".bench" / "logs" / run
        )
        runs = list(enumerate(zip(labels, trees, strict=True)))
        for round_ in range(rounds):
            passthrough = drain.run_passthrough(spec, tag=f"passthrough-r{round_}")["eps"]
            # Each tree goes first in every other round: neither always finds the caches warm.
            for i, (label, tree) in runs if round_ % 2 == 0 else runs[::-1]:
                service = drain.run_service(spec, tag=f"service{i}-r{round_}", tree=tree)
                results[label].append(
                    {
                        "eps": round(service["eps"], 1),
                        "ratio": round(service["eps"] / passthrough, 4),
                        "cpu_us_per_event": service["cpu_us_per_event"],
                    }
                )
    finally:
        infra.delete_topics(stack.bootstrap, {topics.input, *topics.outputs()})
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("rev", help="git revision to compare against")
    measures = ("predict", "normalise_predict", "one_event", "pipeline", "drain")
    parser.add_argument("--measure", choices=measures, default="pipeline")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=200_000, help="events per drain")
    parser.add_argument("--against", help="a revision to measure in place of this tree")
    args = parser.parse_args(argv)
    model_dir = str(Settings().model_dir.resolve())
    name = args.against or "this tree"
    with tempfile.TemporaryDirectory() as tmp:
        worktrees = []
        try:
            trees = []
            for i, rev in enumerate([args.rev, args.against]):
                if rev is None:
                    trees.append(ROOT)
                    continue
                path = Path(tmp) / f"tree{i}"
                git = ["git", "worktree", "add", "-q", "--detach", str(path), rev]
                subprocess.run(git, cwd=ROOT, check=True)
                worktrees.append(path)
                trees.append(path)
            for tree in trees:  # this tree's compiled modules may predate its .pyx files
                _build_extensions(tree)
            if args.measure == "drain":
                drains = _drain([args.rev, name], trees, args.rounds, args.events)
                return _report_drain(args.rev, name, args.rounds, drains)
            results: dict[str, list[float]] = {args.rev: [], name: []}
            for _ in range(args.rounds):
                for label, tree in zip((args.rev, name), trees, strict=True):
                    argv = [str(tree), args.measure, infra.dataset(), model_dir]
                    out = _python(["-c", _MEASURE, *argv], ROOT, f"measuring {label}")
                    results[label].append(json.loads(out))
        finally:
            for path in worktrees:
                git = ["git", "worktree", "remove", "--force", str(path)]
                subprocess.run(git, cwd=ROOT, check=False)
    before, after = (statistics.median(v) for v in results.values())
    print(
        f"{args.measure}, µs per event (median of {args.rounds} runs each): "
        f"{args.rev} {before:.2f}, {name} {after:.2f}, ratio {before / after:.2f}x"
    )
    print(json.dumps(results))
    return 0


def _us(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.2f}"


def _report_drain(
    before: str, after: str, rounds: int, drains: dict[str, list[dict[str, Any]]]
) -> int:
    b, a = (
        {k: statistics.median(r[k] for r in drains[t]) for k in ("eps", "ratio")}
        for t in (before, after)
    )
    cpu_b, cpu_a = (cpu.medians(drains[t]) for t in (before, after))
    print(
        f"drain (median of {rounds} rounds each): events/s {before} {b['eps']:,.0f}, "
        f"{after} {a['eps']:,.0f} ({a['eps'] / b['eps']:.2f}x); process CPU µs per event "
        f"{_us(cpu_b['process'])}, {_us(cpu_a['process'])}; Redis CPU µs per event "
        f"{_us(cpu_b['redis'])}, {_us(cpu_a['redis'])}; "
        f"service / passthrough {b['ratio']:.3f}, {a['ratio']:.3f}"
    )
    print(json.dumps(drains))
    return 0


if __name__ == "__main__":
    sys.exit(main())

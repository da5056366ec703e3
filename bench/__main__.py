"""`python -m bench [--quick]`: the benchmark suite against the local Kafka broker and Redis.

Steps (all by default; `--steps` picks some): stages (per-stage costs in process), memory (Redis
bytes per million dedup fingerprints), drain (service vs passthrough draining a preloaded topic),
peer (the same job in Quix Streams draining the same topic, from a venv of its own; `--no-peer` or
BENCH_PEER=0 leaves it out, and it is skipped, not failed, when that venv cannot be built), scale
(1, 2 and 3 service processes in one group, efficiency per core), latency (open-loop rates,
broker-timestamp latency), guarantees (at-least-once beside exactly-once: drain eps and latency
as a read_committed reader sees it, at the latency step's rates).

Environment: KAFKA_BOOTSTRAP_SERVERS (localhost:9092), REDIS_URL (redis://localhost:6379/0),
MODEL_DIR (artifacts/model; trained if missing), DATASET_LOC (../shared/data/dataset.csv),
BENCH_OUT (.bench/latest.json; the plot is written next to it as .png), BENCH_PEER (1),
BENCH_PEER_VENV (.bench/quix-venv).
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import cpu, drain, guarantees, infra, latency, memory, peer, report, stages
from bench.stats import ratio
from consumer.config import Settings

ROOT = infra.ROOT
STEPS = ("stages", "memory", "drain", "peer", "scale", "latency", "guarantees")


@dataclass
class Config:
    quick: bool
    bootstrap: str
    redis_url: str
    model_dir: Path
    dataset: str
    out: Path
    stage_events: int
    batch: int
    drain_events: int
    scale_events: int
    partitions: int
    duplicate_share: float
    rates: tuple[int, ...]
    rate_seconds: float
    warmup_seconds: float
    memory_fingerprints: int
    rounds: int
    steps: tuple[str, ...] = STEPS
    seed: int = infra.SEED
    run_id: str = field(default_factory=infra.run_id)

    @property
    def stack(self) -> infra.Stack:
        return infra.Stack(self.bootstrap, self.redis_url, self.model_dir)

    @classmethod
    def build(cls, args: argparse.Namespace) -> "Config":
        env = os.environ
        service = Settings()
        quick = args.quick
        out = Path(args.out or env.get("BENCH_OUT") or ROOT / ".bench" / "latest.json")
        rates = (
            tuple(args.rates) if args.rates else ((1000, 5000) if quick else (1000, 5000, 10000))
        )
        return cls(
            quick=quick,
            bootstrap=service.kafka_bootstrap_servers,
            redis_url=service.redis_url,
            model_dir=service.model_dir.resolve(),
            dataset=infra.dataset(),
            out=out.resolve(),
            stage_events=args.stage_events or (20_000 if quick else 200_000),
            batch=1000,
            drain_events=args.events or (20_000 if quick else 200_000),
            scale_events=args.events or (20_000 if quick else 200_000),
            partitions=infra.PARTITIONS,
            duplicate_share=infra.DUPLICATE_SHARE,
            rates=rates,
            rate_seconds=args.rate_seconds or (4.0 if quick else 15.0),
            warmup_seconds=0.5,
            memory_fingerprints=100_000 if quick else 1_000_000,
            rounds=args.rounds or (1 if quick else 3),
            steps=tuple(args.steps) if args.steps else STEPS,
        )


def ensure_model(cfg: Config) -> Any:
    """The artifact at MODEL_DIR, loaded as the service loads it; trained first if unusable."""
    from inference.artifact import ArtifactError, load_artifact

    try:
        return load_artifact(cfg.model_dir)
    except ArtifactError as exc:
        print(f"[bench] no usable model at {cfg.model_dir} ({exc}): training one", file=sys.stderr)
    subprocess.run(
        [sys.executable, "-m", "training", "train", "--data", cfg.dataset, "--out", cfg.model_dir],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return load_artifact(cfg.model_dir)


def redis_version(url: str) -> str | None:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=5)
        version = client.info("server").get("redis_version")
        client.close()
        return str(version)
    except redis.RedisError:
        return None


def step_stages(cfg: Config, ctx: dict[str, Any], rep: dict[str, Any]) -> None:
    events = ctx["events"][: cfg.stage_events]
    result = stages.run(events, ctx["artifact"], cfg.redis_url, f"bench:{cfg.run_id}", cfg.batch)
    rep["stages_us"] = result["stages_us"]
    rep["stages_meta"] = {
        "events": result["events"],
        "timer_overhead_us": result["timer_overhead_us"],
        "batch": cfg.batch,
        "note": "per-event stages timed per call; normalise_fingerprint, predict, "
        "normalise_predict, dedup and pipeline "
        f"per batch of {cfg.batch}, amortised per event (percentiles over batches); predict_one "
        "is a batch of one event",
        "predict_new_tokens_us": result["predict_new_tokens_us"],
    }


def step_memory(cfg: Config, ctx: dict[str, Any], rep: dict[str, Any]) -> None:
    result = memory.run(cfg.redis_url, f"bench:{cfg.run_id}:memory", cfg.memory_fingerprints)
    rep["dedup_memory"] = result
    rep["dedup_memory_bytes_per_million"] = result["memory_usage_bytes_per_million"]


def _spec(cfg: Config, ctx: dict[str, Any]) -> drain.DrainSpec:
    return drain.DrainSpec(
        stack=cfg.stack,
        input_topic=ctx["drain_topics"].input,
        events=cfg.drain_events,
        partitions=cfg.partitions,
        log_dir=ctx["log_dir"],
    )


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _ratios_per_round(runs: list[dict[str, Any]], against: list[dict[str, Any]]) -> list[float]:
    """Each round's events/s of `runs` over those of `against` in the same round."""
    return [round(ratio(r["eps"], a["eps"]) or 0.0, 4) for r, a in zip(runs, against, strict=True)]


def _drain_events(cfg: Config, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(e, id=f"d-{i}") for i, e in enumerate(ctx["events"][: cfg.drain_events])]


def step_drain(cfg: Config, ctx: dict[str, Any], rep: dict[str, Any]) -> None:
    topics = infra.make_topics(cfg.bootstrap, f"bench-drain-{cfg.run_id}", cfg.partitions)
    ctx["drain_topics"] = topics
    events = _drain_events(cfg, ctx)
    preload_seconds = infra.preload(cfg.bootstrap, topics.input, events)
    services: list[dict[str, Any]] = []
    passthroughs: list[dict[str, Any]] = []
    floors: list[dict[str, Any]] = []
    try:
        spec = _spec(cfg, ctx)
        for _ in range(cfg.rounds):  # alternated, so drift in machine load hits all three
            services.append(drain.run_service(spec))
            passthroughs.append(drain.run_passthrough(spec))
            floors.append(drain.run_passthrough(spec, "floor", "bench.floor"))
    finally:
        # Every topic the step made: leaked ones load the broker of every later run. The peer
        # step drains the same input next and deletes it.
        kept = [topics.input] if "peer" in cfg.steps else []
        infra.delete_topics(cfg.bootstrap, {topics.input, *topics.outputs()} - set(kept))
    service_eps = _median([r["eps"] for r in services])
    passthrough_eps = _median([r["eps"] for r in passthroughs])
    floor_eps = _median([r["eps"] for r in floors])
    service_cpu, passthrough_cpu = cpu.medians(services), cpu.medians(passthroughs)
    ratio_by_cpu = ratio(passthrough_cpu["process"], service_cpu["process"])
    rep["drain"] = {
        "events": cfg.drain_events,
        "partitions": cfg.partitions,
        "rounds": cfg.rounds,
        "service_eps": round(service_eps, 1),
        "passthrough_eps": round(passthrough_eps, 1),
        "ratio": round(ratio(service_eps, passthrough_eps) or 0.0, 4),
        "ratio_per_round": _ratios_per_round(services, passthroughs),
        "service_eps_per_round": [round(r["eps"], 1) for r in services],
        "passthrough_eps_per_round": [round(r["eps"], 1) for r in passthroughs],
        # The floor (`bench.floor`): the passthrough plus only the job's mandated calls.
        "floor_eps": round(floor_eps, 1),
        "floor_ratio": round(ratio(floor_eps, passthrough_eps) or 0.0, 4),
        "service_over_floor": round(ratio(service_eps, floor_eps) or 0.0, 4),
        "floor_eps_per_round": [round(r["eps"], 1) for r in floors],
        "floor_ratio_per_round": _ratios_per_round(floors, passthroughs),
        "service_over_floor_per_round": _ratios_per_round(services, floors),
        "service_eps_incl_commit": round(_median([r["eps_incl_commit"] for r in services]), 1),
        # µs of CPU per event, medians over the rounds, and the drain ratio were each process
        # given a core of its own: the passthrough's CPU per event over the service's.
        "cpu_us_per_event": {
            "service": service_cpu,
            "passthrough": passthrough_cpu,
            "floor": cpu.medians(floors),
        },
        "ratio_by_cpu": None if ratio_by_cpu is None else round(ratio_by_cpu, 4),
        "preload_seconds": round(preload_seconds, 3),
        "timing": (drain.__doc__ or "").split("\n\n")[1].replace("\n", " "),
        "service_runs": services,
        "passthrough_runs": passthroughs,
        "floor_runs": floors,
    }


def step_peer(cfg: Config, ctx: dict[str, Any], rep: dict[str, Any]) -> None:
    """Quix Streams over the drain step's input topic (or, without it, the same events preloaded
    into a topic of its own); ours / Quix takes the drain step's service eps."""
    events = _drain_events(cfg, ctx)
    topics = [ctx["drain_topics"].input] if "drain_topics" in ctx else []
    try:
        env = peer.prepare(dict(os.environ))
        if isinstance(env, str):
            rep["peer"] = {"skipped": env}
            return
        if not topics or peer.input_events(cfg.bootstrap, topics[0]) != len(events):
            own = infra.make_topics(cfg.bootstrap, f"bench-peer-{cfg.run_id}", cfg.partitions)
            topics = [own.input, *own.outputs(), *topics]
            infra.preload(cfg.bootstrap, own.input, events)
        spec = drain.DrainSpec(cfg.stack, topics[0], len(events), cfg.partitions, ctx["log_dir"])
        service_eps = (rep.get("drain") or {}).get("service_eps")
        rep["peer"] = peer.run(spec, cfg.rounds, service_eps, env)
    finally:
        infra.delete_topics(cfg.bootstrap, topics)


SCALE_PROCESSES = (1, 2, 3)


def step_scale(cfg: Config, ctx: dict[str, Any], rep: dict[str, Any]) -> None:
    """1 → 2 → 3 service processes in one group, alternated per round; reported as efficiency
    per core (`report.scale_summary`), since this machine's cores bound the scaling."""
    import orjson

    events = ctx["events"][: cfg.scale_events]
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in SCALE_PROCESSES}
    for _ in range(cfg.rounds):
        for workers in SCALE_PROCESSES:
            tag = f"s{workers}-"
            values = [orjson.dumps(dict(e, id=f"{tag}{i}")) for i, e in enumerate(events)]
            keys = [f"{tag}{i}".encode() for i in range(len(events))]
            runs[workers].append(
                drain.run_scale(
                    stack=cfg.stack,
                    values=values,
                    keys=keys,
                    partitions=cfg.partitions,
                    workers=workers,
                    log_dir=ctx["log_dir"],
                )
            )
    rep["scale"] = {
        "events": cfg.scale_events,
        "rounds": cfg.rounds,
        "partitions": cfg.partitions,
        **report.scale_summary(runs, os.cpu_count()),
        "timing": " ".join((drain.run_scale.__doc__ or "").split()),
        "efficiency": " ".join((report.efficiency.__doc__ or "").split()),
        "runs": [r for n in SCALE_PROCESSES for r in runs[n]],
    }


def step_latency(cfg: Config, ctx: dict[str, Any], rep: dict[str, Any]) -> None:
    rep["latency_ms"] = latency.run(
        stack=cfg.stack,
        events=ctx["events"],
        rates=cfg.rates,
        seconds=cfg.rate_seconds,
        warmup=cfg.warmup_seconds,
        partitions=cfg.partitions,
        log_dir=ctx["log_dir"],
    )
    rep["latency_meta"] = {
        "seconds_per_rate": cfg.rate_seconds,
        "warmup_seconds_excluded": cfg.warmup_seconds,
        "note": (latency.__doc__ or "").replace("\n", " ").strip(),
    }


def step_guarantees(cfg: Config, ctx: dict[str, Any], rep: dict[str, Any]) -> None:
    """At-least-once and exactly-once on one preloaded topic and at the same rates."""
    topics = infra.make_topics(cfg.bootstrap, f"bench-guarantees-{cfg.run_id}", cfg.partitions)
    events = [dict(e, id=f"g-{i}") for i, e in enumerate(ctx["events"][: cfg.drain_events])]
    try:
        infra.preload(cfg.bootstrap, topics.input, events)
        spec = drain.DrainSpec(cfg.stack, topics.input, len(events), cfg.partitions, ctx["log_dir"])
        rep["guarantees"] = guarantees.run(
            spec=spec,
            rounds=cfg.rounds,
            events=ctx["events"],
            rates=cfg.rates,
            seconds=cfg.rate_seconds,
            warmup=cfg.warmup_seconds,
        )
    finally:
        infra.delete_topics(cfg.bootstrap, [topics.input, *topics.outputs()])


STEP_FUNCS: dict[str, Callable[[Config, dict[str, Any], dict[str, Any]], None]] = {
    "stages": step_stages,
    "memory": step_memory,
    "drain": step_drain,
    "peer": step_peer,
    "scale": step_scale,
    "latency": step_latency,
    "guarantees": step_guarantees,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes; finishes in ~1-2 min")
    parser.add_argument("--steps", nargs="+", choices=STEPS, help="run only these steps")
    parser.add_argument("--no-memory", action="store_true", help="skip the Redis memory step")
    parser.add_argument("--no-peer", action="store_true", help="skip the Quix Streams peer step")
    parser.add_argument("--events", type=int, help="events for drain and scale")
    parser.add_argument("--stage-events", type=int, help="events for the in-process stages")
    parser.add_argument("--rates", type=int, nargs="+", help="latency rates (events/s)")
    parser.add_argument("--rate-seconds", type=float, help="seconds per latency rate")
    parser.add_argument("--rounds", type=int, help="alternated drain/scale repetitions")
    parser.add_argument("--out", help="JSON report path (BENCH_OUT)")
    args = parser.parse_args(argv)
    if args.no_memory:
        args.steps = [s for s in (args.steps or STEPS) if s != "memory"]
    if not peer.enabled(args.no_peer, dict(os.environ)):
        args.steps = [s for s in (args.steps or STEPS) if s != "peer"]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = Config.build(args)
    started = time.monotonic()
    from loadgen.replay import generate_events
    from training.data import load

    artifact = ensure_model(cfg)
    examples = load(cfg.dataset).examples
    needed = max(
        cfg.stage_events,
        cfg.drain_events,
        cfg.scale_events,
        int(sum(cfg.rates) * cfg.rate_seconds),
    )
    log_dir = cfg.out.parent / "logs" / cfg.run_id
    ctx: dict[str, Any] = {
        "artifact": artifact,
        "events": list(
            generate_events(examples, needed, cfg.duplicate_share, cfg.seed, f"b{cfg.run_id}")
        ),
        "log_dir": log_dir,
    }
    rep: dict[str, Any] = {
        "meta": {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "python -m bench" + (" " + " ".join(sys.argv[1:]) if argv is None else ""),
            "quick": cfg.quick,
            "run_id": cfg.run_id,
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
            "logs": str(log_dir),
        },
        "machine": report.machine_info(),
        "libraries": {**report.library_versions(), "redis-server": redis_version(cfg.redis_url)},
        "errors": {},
    }
    step_seconds: dict[str, float] = {}
    for step in cfg.steps:
        print(f"[bench] {step} …", file=sys.stderr, flush=True)
        t = time.monotonic()
        try:
            STEP_FUNCS[step](cfg, ctx, rep)
        except Exception as exc:
            rep["errors"][step] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        step_seconds[step] = round(time.monotonic() - t, 1)
        if hasattr(os, "getloadavg"):  # a busy machine explains outliers
            rep["meta"].setdefault("loadavg_after_step", {})[step] = round(os.getloadavg()[0], 2)
        print(f"[bench] {step} done in {step_seconds[step]}s", file=sys.stderr, flush=True)
        rep["meta"]["step_seconds"] = step_seconds
        report.write_json(rep, cfg.out)
    rep["targets"] = report.check_targets(rep)
    rep["meta"]["total_seconds"] = round(time.monotonic() - started, 1)
    if hasattr(os, "getloadavg"):
        rep["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    plot = report.plot_latency(
        rep.get("latency_ms") or [],
        cfg.out.with_suffix(".png"),
        f"e2e latency vs rate ({'quick' if cfg.quick else 'full'} run, "
        f"{rep['machine']['cores']} cores)",
    )
    if plot:
        rep["meta"]["plot"] = str(plot)
    report.write_json(rep, cfg.out)
    print(report.markdown(rep))
    print(f"\nreport: {cfg.out}" + (f"\nplot:   {plot}" if plot else ""))
    if rep["errors"]:
        print(f"errors in: {', '.join(rep['errors'])}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

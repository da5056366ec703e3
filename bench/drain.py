"""Drain throughput: time a consumer group draining a preloaded input topic to completion.

Timing window: from the moment every process in the group reports assigned partitions on
`/healthz` (so interpreter start, model load and the group join are excluded) to the moment the sum
of the output topics' end offsets reaches the number of input events (every output appended to the
log, i.e. delivered with acks=all). Outputs that already existed at the window start are subtracted,
so eps = (events − outputs at start) / window. Afterwards the run waits until the group's committed
offsets equal the input's end offsets (auto-commit every 1 s) and reports that time separately.

CPU per event (`bench.cpu`): the busy CPU time of the process under test, Redis, the broker and
the machine, from just after the window opens to the moment it closes, over the outputs appended
in between.
"""

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import cpu, infra
from bench.stats import rate
from schemas.topics import Topics


@dataclass(frozen=True)
class DrainSpec:
    stack: infra.Stack
    input_topic: str
    events: int
    partitions: int
    log_dir: Path
    timeout: float = 600.0


def _window(
    spec: DrainSpec,
    procs: list[infra.Proc],
    ports: list[int],
    outputs: list[str],
    group: str,
    spawned_at: float,
) -> dict[str, Any]:
    offsets = infra.Offsets(spec.stack.bootstrap)
    t0 = infra.wait_assigned(ports, spec.partitions, procs, "partition assignment")
    done0 = offsets.total(outputs)
    samples: list[tuple[float, int]] = [(t0, done0)]
    # Its workers exist once they hold partitions.
    cpu_window = cpu.Window(procs[0].popen.pid, lambda: offsets.total(outputs))

    def finished() -> bool:
        n = offsets.total(outputs)
        samples.append((time.monotonic(), n))
        return n >= spec.events

    t_done = infra.wait_until(finished, spec.timeout, "all outputs", interval=0.05, procs=procs)
    produced = samples[-1][1]
    cpu_us_per_event = cpu_window.close(produced)
    input_end = offsets.end_offsets([spec.input_topic])

    def committed() -> bool:
        return offsets.committed(group, spec.input_topic) == input_end

    t_committed = infra.wait_until(committed, 60, "committed offsets == end offsets", 0.1, procs)
    measured = spec.events - done0
    return {
        "events": spec.events,
        "events_measured": measured,
        "outputs": produced,
        "seconds": t_done - t0,
        "eps": rate(measured, t_done - t0),
        "startup_seconds": t0 - spawned_at,
        "commit_after_seconds": t_committed - t_done,
        "eps_incl_commit": rate(measured, t_committed - t0),
        "cpu_us_per_event": cpu_us_per_event,
        "timeline": [(round(t - t0, 3), n) for t, n in samples[:: max(1, len(samples) // 200)]],
    }


def _prepare(spec: DrainSpec, tag: str, workers: int) -> tuple[Topics, str, int, dict[str, str]]:
    """Fresh output topics, group, metrics port(s) and environment for one drain run."""
    prefix = f"bench-{tag}-{infra.run_id()}"
    topics = infra.make_topics(spec.stack.bootstrap, prefix, spec.partitions, spec.input_topic)
    port = infra.free_port(workers)
    return topics, infra.group_id(prefix), port, infra.service_env(spec.stack, topics, prefix, port)


def _finished(
    result: dict[str, Any], proc: infra.Proc, code: int, tag: str, workers: int
) -> dict[str, Any]:
    result.update(workers=workers, exit_code=code, log=str(proc.log_path))
    if code != 0:
        raise infra.BenchError(f"{tag} exited with {code}:\n{proc.tail()}")
    return result


def run_service(
    spec: DrainSpec, workers: int = 1, tag: str = "service", tree: Path = infra.ROOT
) -> dict[str, Any]:
    """The service (`workers` processes, from source tree `tree`) draining the spec's input."""
    topics, group, port, env = _prepare(spec, tag, workers)
    spawned_at = time.monotonic()
    proc = infra.spawn(tag, infra.service_argv(workers), env, spec.log_dir, tree)
    try:
        result = _window(
            spec,
            [proc],
            [port + i for i in range(workers)],
            list(topics.outputs()),
            group,
            spawned_at,
        )
        result["events_total_metric"] = sum(
            infra.scrape_events_total(port + i) or 0.0 for i in range(workers)
        )
    finally:
        code = proc.stop()
        infra.delete_topics(spec.stack.bootstrap, topics.outputs())
    return _finished(result, proc, code, tag, workers)


def run_passthrough(
    spec: DrainSpec, tag: str = "passthrough", module: str = "bench.passthrough"
) -> dict[str, Any]:
    """The passthrough draining the spec's input (or, with `module` "bench.floor", the floor:
    the passthrough plus the job's mandated calls), its records to one output topic."""
    topics, group, port, env = _prepare(spec, tag, 1)
    env["BENCH_PASSTHROUGH_OUTPUT"] = topics.tagged
    spawned_at = time.monotonic()
    proc = infra.spawn(tag, ["-m", module], env, spec.log_dir)
    try:
        result = _window(spec, [proc], [port], [topics.tagged], group, spawned_at)
    finally:
        code = proc.stop()
        infra.delete_topics(spec.stack.bootstrap, topics.outputs())
    return _finished(result, proc, code, tag, 1)


def run_scale(
    *,
    stack: infra.Stack,
    values: list[bytes],
    keys: list[bytes],
    partitions: int,
    workers: int,
    log_dir: Path,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """`workers` service processes (`--workers N`: a supervisor and N worker processes, as many
    instances would run) in one group on a fresh, empty input topic: once every worker holds
    partitions (the group is stable), the events are produced as fast as possible; eps = events /
    (first produce → last output appended). Producing pre-serialised records is several times
    faster than the service consumes, so the group is the bottleneck. The machine's load average
    just before is recorded: the cores are shared with whatever else runs (the producer too)."""
    prefix = f"bench-scale{workers}-{infra.run_id()}"
    topics = infra.make_topics(stack.bootstrap, prefix, partitions)
    port = infra.free_port(workers)
    env = infra.service_env(stack, topics, prefix, port)
    offsets = infra.Offsets(stack.bootstrap)
    ports = [port + i for i in range(workers)]
    load_before = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    spawned_at = time.monotonic()
    proc = infra.spawn(f"scale-{workers}", infra.service_argv(workers), env, log_dir)
    try:
        t_stable = infra.wait_assigned(ports, partitions, [proc], "a stable group")
        t0 = time.monotonic()
        produce_seconds = infra.produce_encoded(stack.bootstrap, topics.input, values, keys)
        t_done = infra.wait_until(
            lambda: offsets.total(topics.outputs()) >= len(values),
            timeout,
            "all outputs",
            interval=0.05,
            procs=[proc],
        )
        counts = infra.assigned_partitions(ports)
    finally:
        code = proc.stop()
        infra.delete_topics(stack.bootstrap, [topics.input, *topics.outputs()])
    if code != 0:
        raise infra.BenchError(f"scale-{workers} exited with {code}:\n{proc.tail()}")
    return {
        "workers": workers,
        "events": len(values),
        "seconds": t_done - t0,
        "eps": rate(len(values), t_done - t0),
        "produce_seconds": produce_seconds,
        "startup_seconds": t_stable - spawned_at,
        "partitions_per_worker": counts,
        "loadavg_before": load_before,
        "log": str(proc.log_path),
    }

"""What exactly-once costs: the service under PROCESSING_GUARANTEE=at-least-once and exactly-once,
alternated in one run, on the same input.

Throughput: each mode drains the same preloaded topic (a group of its own each time). The window
opens when the process reports its partitions assigned. At-least-once: it closes when the output
topics hold an output per event (appended with acks=all, as the drain step times it). Exactly-once:
it closes when the group's committed offsets reach the input's end, which is the moment the last
transaction, and so every output, became visible to read_committed readers (end offsets would
count transaction markers and aborted records).

Latency: each mode gets the same open-loop rates. A read_committed reader follows the output
topics live; an event's latency is the wall-clock time its output reached that reader minus its
input record's broker append time (the broker runs on this machine: one clock). Under exactly-once
this includes the wait for the transaction's commit, which the broker timestamp of the output record
would not show. The first `warmup` seconds of each rate are excluded.
"""

import multiprocessing
import statistics
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from bench import infra
from bench.drain import DrainSpec
from bench.stats import rate, ratio, summarize
from consumer.kafka import common_config
from loadgen import replay
from schemas.topics import Topics

MODES = ("at-least-once", "exactly-once")


def _env(spec_stack: infra.Stack, topics: Topics, prefix: str, port: int, mode: str) -> dict:
    return {
        **infra.service_env(spec_stack, topics, prefix, port),
        "PROCESSING_GUARANTEE": mode,
        "INSTANCE_ID": prefix,
    }


def drain(spec: DrainSpec, mode: str) -> dict[str, Any]:
    """One drain of `spec.input_topic` under `mode`; eps as the module docstring times it."""
    tag = "eos" if mode == "exactly-once" else "alos"
    prefix = f"bench-g{tag}-{infra.run_id()}"
    stack = spec.stack
    topics = infra.make_topics(stack.bootstrap, prefix, spec.partitions, spec.input_topic)
    port = infra.free_port()
    group = infra.group_id(prefix)
    offsets = infra.Offsets(stack.bootstrap)
    proc = infra.spawn(
        f"guarantee-{tag}",
        infra.service_argv(1),
        _env(stack, topics, prefix, port, mode),
        spec.log_dir,
    )
    try:
        t0 = infra.wait_assigned([port], spec.partitions, [proc], "partition assignment")
        if mode == "exactly-once":
            end = offsets.end_offsets([spec.input_topic])

            def done() -> bool:
                return offsets.committed(group, spec.input_topic) == end

        else:

            def done() -> bool:
                return offsets.total(topics.outputs()) >= spec.events

        t_done = infra.wait_until(done, spec.timeout, f"{mode} drain", 0.05, [proc])
    finally:
        code = proc.stop()
        infra.delete_topics(stack.bootstrap, topics.outputs())
    if code != 0:
        raise infra.BenchError(f"{mode} drain exited with {code}:\n{proc.tail()}")
    return {
        "mode": mode,
        "events": spec.events,
        "seconds": t_done - t0,
        "eps": rate(spec.events, t_done - t0),
        "log": str(proc.log_path),
    }


def _follow(bootstrap: str, positions: list[tuple[str, int, int]], stop: Any, conn: Any) -> None:
    """The reader process: consume from `positions` until `stop` is set, then send back when
    each key first arrived (wall-clock ms)."""
    consumer = Consumer(
        {
            **common_config(bootstrap),
            "group.id": f"bench-live-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "fetch.wait.max.ms": 5,
        }
    )
    consumer.assign([TopicPartition(t, p, o) for t, p, o in positions])
    conn.send(True)  # assigned: the caller may start producing
    seen: dict[bytes, float] = {}
    while not stop.is_set():
        # What is already fetched, else a wait for the first record: `consume(n, t)` alone
        # would hold arrivals until n records or t seconds.
        messages = consumer.consume(1000, 0)
        if not messages:
            first = consumer.poll(0.05)
            messages = [first] if first is not None else []
        for msg in messages:
            key = msg.key()
            if msg.error() is None and key is not None and key not in seen:
                seen[key] = time.time() * 1000.0
    consumer.close()
    conn.send(seen)


class LiveReader:
    """A read_committed consumer of the output topics from their current end, in a process of
    its own (a thread would wait for the GIL behind the paced producer and add that wait to every
    latency), recording when each key first arrives (wall-clock ms)."""

    def __init__(self, bootstrap: str, topics: Sequence[str], offsets: infra.Offsets) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._stop = ctx.Event()
        self._conn, child = ctx.Pipe()
        positions = [(t, p, o) for (t, p), o in offsets.end_offsets(topics).items()]
        self._proc = ctx.Process(
            target=_follow, args=(bootstrap, positions, self._stop, child), daemon=True
        )
        self._proc.start()
        if not self._conn.poll(60):
            raise infra.BenchError("the live reader did not start")
        self._conn.recv()

    def close(self) -> dict[bytes, float]:
        """Stop reading; returns key → arrival time (ms)."""
        self._stop.set()
        seen: dict[bytes, float] = self._conn.recv() if self._conn.poll(60) else {}
        self._proc.join(10)
        return seen


def latency(
    *,
    stack: infra.Stack,
    events: list[dict[str, Any]],
    rates: Sequence[int],
    seconds: float,
    warmup: float,
    partitions: int,
    log_dir: Path,
    mode: str,
) -> list[dict[str, Any]]:
    """Visible-to-reader latency per rate under `mode` (see the module docstring)."""
    tag = "eos" if mode == "exactly-once" else "alos"
    prefix = f"bench-glat{tag}-{infra.run_id()}"
    topics = infra.make_topics(stack.bootstrap, prefix, partitions)
    port = infra.free_port()
    group = infra.group_id(prefix)
    offsets = infra.Offsets(stack.bootstrap)
    proc = infra.spawn(
        f"guarantee-latency-{tag}",
        infra.service_argv(1),
        _env(stack, topics, prefix, port, mode),
        log_dir,
    )
    results = []
    try:
        infra.wait_assigned([port], partitions, [proc], "partition assignment")
        reader = LiveReader(stack.bootstrap, list(topics.outputs()), offsets)
        producer = replay.producer(stack.bootstrap)
        producer.produce(topics.input, b'{"warmup": true}', b"warmup")
        producer.flush(30)
        cursor = 0
        try:
            for r in rates:
                count = int(r * seconds)
                chunk = [
                    dict(events[(cursor + i) % len(events)], id=f"{tag}{r}-{i}")
                    for i in range(count)
                ]
                cursor += count
                replay.publish(producer, topics.input, iter(chunk), count, rate=r, progress=False)
                end = offsets.end_offsets([topics.input])

                def committed(end: dict = end) -> bool:
                    return offsets.committed(group, topics.input) == end

                infra.wait_until(
                    committed,
                    max(60.0, 3 * seconds),
                    f"{mode} outputs at {r}/s",
                    interval=0.1,
                    procs=[proc],
                )
                time.sleep(0.5)
        finally:
            seen = reader.close()
        appended = infra.read_timestamps(stack.bootstrap, [topics.input], offsets)
        for r in rates:
            key_tag = f"{tag}{r}-".encode()
            pairs = [(ts, seen.get(k)) for k, ts in appended.items() if k.startswith(key_tag)]
            first = min(ts for ts, _ in pairs)
            lat = [
                seen - ts for ts, seen in pairs if seen is not None and ts >= first + warmup * 1e3
            ]
            s = summarize(lat)
            results.append(
                {
                    "rate": r,
                    "events": len(pairs),
                    "missing_outputs": sum(seen is None for _, seen in pairs),
                    "p50": round(s["p50"], 2),
                    "p99": round(s["p99"], 2),
                    "max": round(s["max"], 2),
                }
            )
    finally:
        code = proc.stop()
        infra.delete_topics(stack.bootstrap, [topics.input, *topics.outputs()])
    if code != 0:
        raise infra.BenchError(f"{mode} latency service exited with {code}:\n{proc.tail()}")
    return results


def run(
    *,
    spec: DrainSpec,
    rounds: int,
    events: list[dict[str, Any]],
    rates: Sequence[int],
    seconds: float,
    warmup: float,
) -> dict[str, Any]:
    """Both modes' drains (alternated per round) and latencies; exactly-once / at-least-once."""
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
    for _ in range(rounds):
        for mode in MODES:
            runs[mode].append(drain(spec, mode))
    eps = {m: statistics.median(r["eps"] for r in rs) for m, rs in runs.items()}
    lat = {
        m: latency(
            stack=spec.stack,
            events=events,
            rates=rates,
            seconds=seconds,
            warmup=warmup,
            partitions=spec.partitions,
            log_dir=spec.log_dir,
            mode=m,
        )
        for m in MODES
    }
    return {
        "events": spec.events,
        "rounds": rounds,
        "eps": {m: round(e, 1) for m, e in eps.items()},
        "eos_over_alos": round(ratio(eps["exactly-once"], eps["at-least-once"]) or 0.0, 4),
        "ratio_per_round": [
            round(ratio(e["eps"], a["eps"]) or 0.0, 4)
            for a, e in zip(runs["at-least-once"], runs["exactly-once"], strict=True)
        ],
        "latency_ms": lat,
        "timing": " ".join((__doc__ or "").split()),
        "runs": runs,
    }

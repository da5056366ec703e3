"""Latency under load: an open-loop producer at fixed rates into a running service.

Latency of an event = broker append time of its output record − broker append time of its input
record. All topics use `message.timestamp.type=LogAppendTime` (see consumer.topics), so both are the
broker's clock (millisecond resolution). Input and output records are joined by key (= event id).
The first `warmup` seconds of each rate are excluded.
"""

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import infra
from bench.stats import summarize
from loadgen import replay


def run(
    *,
    stack: infra.Stack,
    events: list[dict[str, Any]],
    rates: Sequence[int],
    seconds: float,
    warmup: float,
    partitions: int,
    log_dir: Path,
) -> list[dict[str, Any]]:
    """`events` supplies the content: each rate takes the next rate × seconds of them, so content
    never repeats across rates (only the data set's own ~duplicates share)."""
    prefix = f"bench-latency-{infra.run_id()}"
    topics = infra.make_topics(stack.bootstrap, prefix, partitions)
    port = infra.free_port()
    env = infra.service_env(stack, topics, prefix, port)
    offsets = infra.Offsets(stack.bootstrap)
    proc = infra.spawn("latency-service", infra.service_argv(1), env, log_dir)
    sent_by_rate: dict[int, dict[str, Any]] = {}
    try:
        infra.wait_assigned([port], partitions, [proc], "partition assignment")
        producer = replay.producer(stack.bootstrap)
        # One record first, so metadata and the idempotent producer id are in place before the
        # timed rates start (otherwise the first events pile up and leave in one burst).
        producer.produce(topics.input, b'{"warmup": true}', b"warmup")
        producer.flush(30)
        cursor, total = 0, 1
        for rate in rates:
            count = int(rate * seconds)
            chunk = []
            for i in range(count):
                event = dict(events[(cursor + i) % len(events)])
                event["id"] = f"r{rate}-{i}"
                chunk.append(event)
            cursor += count
            started = time.perf_counter()
            sent = replay.publish(
                producer, topics.input, iter(chunk), count, rate=rate, progress=False
            )
            elapsed = time.perf_counter() - started
            total += sent

            def delivered(total: int = total) -> bool:
                return offsets.total(topics.outputs()) >= total

            infra.wait_until(
                delivered,
                max(60.0, 3 * seconds),
                f"outputs of the {rate}/s run",
                interval=0.1,
                procs=[proc],
            )
            sent_by_rate[rate] = {"sent": sent, "send_seconds": elapsed}
            time.sleep(0.5)
    finally:
        code = proc.stop()
    if code != 0:
        raise infra.BenchError(f"latency service exited with {code}:\n{proc.tail()}")
    inputs = infra.read_timestamps(stack.bootstrap, [topics.input], offsets)
    outputs = infra.read_timestamps(stack.bootstrap, topics.outputs(), offsets)
    infra.delete_topics(stack.bootstrap, [topics.input, *topics.outputs()])

    results = []
    for rate in rates:
        tag = f"r{rate}-".encode()
        pairs = [(ts, outputs.get(key)) for key, ts in inputs.items() if key.startswith(tag)]
        if not pairs:
            raise infra.BenchError(f"no input records found for rate {rate}")
        first, last = min(p[0] for p in pairs), max(p[0] for p in pairs)
        missing = sum(out is None for _, out in pairs)
        latencies = [
            out - ts for ts, out in pairs if out is not None and ts >= first + warmup * 1e3
        ]
        s = summarize(latencies)
        sending = sent_by_rate[rate]
        span = (last - first) / 1e3
        results.append(
            {
                "rate": rate,
                "achieved_rate": round(len(pairs) / span, 1) if span > 0 else None,
                "send_rate": round(sending["sent"] / sending["send_seconds"], 1),
                "events": len(pairs),
                "measured": len(latencies),
                "missing_outputs": missing,
                "p50": s["p50"],
                "p95": s["p95"],
                "p99": s["p99"],
                "max": s["max"],
                "mean": round(s["mean"], 3),
            }
        )
    return results

"""`python -m bench.loop`: where the service loop's time goes, per event, part by part.

The service's own `Service.step` runs in process over bench events handed over by an in-memory
consumer (so the broker's fetches are not timed, only the loop), with the real `Pipeline` (drift
and shadow observers as the service wires them), a real Redis for dedup and a real producer to
the real broker, the garbage collector set as the service sets it (`consumer.app.tune_gc`, when
the tree has it). Each part is timed by wrapping its function with `time.perf_counter` (about
0.1 µs per wrapped call: the per-call parts, decode and encode, carry it per event), and reported in
µs per event, median over passes after a first warm-up pass, with the loop's wall time and its
main-thread CPU time. Parts nest as indented: a part's time includes its children's.

Environment as the service's (KAFKA_BOOTSTRAP_SERVERS, REDIS_URL, MODEL_DIR, BATCH_SIZE), plus
DATASET_LOC. Run it with PYTHONPATH naming another tree to profile that tree's loop the same way.
"""

import argparse
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import orjson
from confluent_kafka import Producer

from bench import infra
from consumer import codec, delivery, pipeline, service
from consumer import dedup as dedup_module
from consumer.config import Settings
from consumer.dedup import Deduplicator
from consumer.drift import DriftMonitor
from consumer.kafka import producer_config
from consumer.metrics import Metrics
from consumer.redis_client import connect
from consumer.shadow import ShadowScorer
from inference.artifact import load_artifact

# (owner, attribute, label): the parts timed, in report order; an indented label is a part of the
# unindented one above it. Parts a tree does not have are left out.
PARTS: tuple[tuple[Any, str, str], ...] = (
    (service.Service, "step", "loop step (all)"),
    (pipeline.Pipeline, "process", "  pipeline"),
    (codec, "decode_all", "    decode + validate (batch)"),
    (codec, "decode", "    decode + validate (per call)"),
    (pipeline.Pipeline, "_normalise", "    normalise + fingerprint"),
    (pipeline.Pipeline, "_start_check", "    dedup: send"),
    (pipeline.Pipeline, "_check", "    dedup: check on its thread"),
    (pipeline.Pipeline, "_classify", "    classify"),
    (codec, "checked_predictions", "    check answers"),
    (pipeline.Pipeline, "_show_observers", "    observers (drift, shadow)"),
    (codec.ClassifiedEncoder, "__call__", "    encode (per call)"),
    (delivery.Deliveries, "send", "  produce"),
    (delivery.Deliveries, "service", "  delivery callbacks, offsets"),
    (service.Service, "_count", "  outcome counters"),
)
DEDUP_WAIT = "    dedup: wait for the reply"


class Message:
    """A consumed record as the loop reads it."""

    __slots__ = ("_key", "_offset", "_partition", "_topic", "_value")

    def __init__(self, value: bytes, key: bytes, topic: str, partition: int, offset: int) -> None:
        self._value, self._key, self._topic = value, key, topic
        self._partition, self._offset = partition, offset

    def value(self) -> bytes:
        return self._value

    def key(self) -> bytes:
        return self._key

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return (1, int(time.time() * 1000))

    def error(self) -> None:
        return None


class Consumer:
    """Hands over queued records as `consume` would; stores offsets nowhere."""

    def __init__(self, queue: list[Message]) -> None:
        self.queue = queue

    def consume(self, n: int, timeout: float) -> list[Message]:
        batch, self.queue = self.queue[:n], self.queue[n:]
        return batch

    def poll(self, timeout: float) -> None:
        return None

    def store_offsets(self, offsets: object) -> None:
        pass

    def assignment(self) -> list[object]:
        return []


class Timer:
    """Accumulates seconds per part by wrapping the parts' functions."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)

    def wrap(self, owner: Any, name: str, label: str) -> bool:
        inner = owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name, None)
        if inner is None:
            return False
        seconds, clock = self.seconds, time.perf_counter

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = clock()
            try:
                return inner(*args, **kwargs)
            finally:
                seconds[label] += clock() - started

        setattr(owner, name, timed)
        return True

    def wrap_dedup_wait(self) -> bool:
        """The reply half of `Deduplicator.start`, where the tree has it."""
        start = getattr(dedup_module.Deduplicator, "start", None)
        if start is None:
            return False
        seconds, clock = self.seconds, time.perf_counter

        def timed_start(self: Deduplicator, *args: Any) -> Callable[[], Any]:
            reply = start(self, *args)

            def timed_reply() -> Any:
                started = clock()
                try:
                    return reply()
                finally:
                    seconds[DEDUP_WAIT] += clock() - started

            return timed_reply

        setattr(dedup_module.Deduplicator, "start", timed_start)  # noqa: B010 (mypy: no method-assign)
        return True


def run(events: int, passes: int) -> tuple[list[str], dict[str, float], float, float]:
    """(labels timed, median µs per event per label, median wall and CPU µs per event)."""
    settings = Settings()
    timer = Timer()
    labels = [label for owner, name, label in PARTS if timer.wrap(owner, name, label)]
    if timer.wrap_dedup_wait():
        labels.insert(labels.index("    dedup: send") + 1, DEDUP_WAIT)
    # The service sets its collector once start-up is done; a tree without that keeps the default.
    try:
        from consumer.app import tune_gc
    except ImportError:
        pass
    else:
        tune_gc()
    artifact = load_artifact(settings.model_dir)
    run_id = infra.run_id()
    from loadgen.replay import generate_events
    from training.data import load

    examples = load(infra.dataset()).examples
    bench_events = [
        dict(e, id=f"l-{i}")
        for i, e in enumerate(generate_events(examples, events, 0.1, 7, f"l{run_id}"))
    ]
    values = [orjson.dumps(e) for e in bench_events]
    topics = infra.make_topics(settings.kafka_bootstrap_servers, f"bench-loop-{run_id}", 6)
    metrics = Metrics()
    client = connect(settings.redis_url, "standalone", settings.redis_timeout_seconds)
    producer = Producer(producer_config(settings))
    per_pass: list[dict[str, float]] = []
    wall: list[float] = []
    cpu: list[float] = []
    try:
        for n in range(passes + 1):
            dedup = Deduplicator(client, f"bench:loop:{run_id}:{n}", 3600)
            observers: list[pipeline.BatchObserver] = [
                DriftMonitor(
                    metrics,
                    settings.drift_window_events,
                    settings.drift_min_events,
                    reference=artifact.meta.reference,
                ),
                ShadowScorer(metrics, share=settings.shadow_share),
            ]
            queue = [
                Message(v, f"l-{i}".encode(), topics.input, i % 6, i // 6)
                for i, v in enumerate(values)
            ]
            consumer = Consumer(queue)
            loop = service.Service(
                consumer=consumer,  # type: ignore[arg-type]
                producer=producer,
                pipeline=pipeline.Pipeline(
                    artifact,
                    dedup,
                    topics,
                    metrics,
                    settings.max_message_bytes,
                    observers=observers,
                ),
                metrics=metrics,
                input_topic=topics.input,
                batch_size=settings.batch_size,
                poll_timeout=0.001,
                shutdown_timeout=30.0,
                backoff_initial=0.1,
                backoff_max=1.0,
            )
            timer.seconds.clear()
            started, started_cpu = time.perf_counter(), time.thread_time()
            while consumer.queue:
                loop.step()
            elapsed, elapsed_cpu = time.perf_counter() - started, time.thread_time() - started_cpu
            loop.deliveries.drain(30.0)
            client.delete(*dedup.keys())
            if n:  # the first pass warms up
                per_pass.append({k: v / len(values) * 1e6 for k, v in timer.seconds.items()})
                wall.append(elapsed / len(values) * 1e6)
                cpu.append(elapsed_cpu / len(values) * 1e6)
    finally:
        infra.delete_topics(settings.kafka_bootstrap_servers, [topics.input, *topics.outputs()])
        client.close()
    medians = {label: statistics.median(p.get(label, 0.0) for p in per_pass) for label in labels}
    return labels, medians, statistics.median(wall), statistics.median(cpu)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loop", description=__doc__)
    parser.add_argument("--events", type=int, default=20_000, help="events per pass")
    parser.add_argument("--passes", type=int, default=5, help="timed passes (after a warm-up)")
    args = parser.parse_args(argv)
    labels, medians, wall, cpu = run(args.events, args.passes)
    print("| part | µs per event |")
    print("|---|---:|")
    for label in labels:
        print(f"| {label.replace('  ', '· ')} | {medians[label]:.2f} |")
    print(f"| loop wall time | {wall:.2f} |")
    print(f"| loop main-thread CPU time | {cpu:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Passthrough baseline: the service's Kafka loop with no decode, dedup, model or encode.

`python -m bench.passthrough` is configured like the service, by environment
(KAFKA_BOOTSTRAP_SERVERS, TOPIC_INPUT, CONSUMER_GROUP_ID, METRICS_PORT, BATCH_SIZE, ...; output
topic BENCH_PASSTHROUGH_OUTPUT). It consumes with `consumer_config` and the service's
`consume_batch`, produces every record unchanged with `producer_config`, and stores a batch's
offsets only after all of its outputs are delivered (the same `DeliveryTracker`), exactly like the
service. It serves the same `/healthz` (with `assigned_partitions`) on METRICS_PORT.

`run` takes the work to do on each batch before its records are produced: none here, the calls
no implementation of the job can skip in `bench.floor`.
"""

import logging
import os
import signal
import sys
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from prometheus_client import CollectorRegistry

from consumer.config import Settings
from consumer.delivery import ANY_PARTITION, Batch, DeliveryTracker
from consumer.http import start_http_server
from consumer.kafka import consumer_config, producer_config
from consumer.service import consume_batch

log = logging.getLogger("bench.passthrough")


def run(
    settings: Settings,
    output_topic: str,
    work: Callable[[list[Message]], object] | None = None,
) -> int:
    """Consume → (work) → produce every record unchanged, until SIGTERM or SIGINT.

    :param work: called with each batch's records before they are produced."""
    consumer = Consumer(consumer_config(settings, logger=log))
    producer = Producer(producer_config(settings, logger=log))
    tracker = DeliveryTracker()
    assigned: list = []
    stopping = False

    def on_signal(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    def on_assign(_c: Consumer, partitions: list) -> None:
        assigned[:] = partitions

    generation = [0]

    def on_revoke(_c: Consumer, _partitions: list) -> None:
        generation[0] += 1
        drain(settings.shutdown_timeout_seconds)
        commit()
        tracker.clear()
        assigned.clear()

    def release() -> None:
        done, offsets = tracker.pop_completed()
        if done:
            try:
                consumer.store_offsets(offsets=offsets)
            except KafkaException as exc:
                log.warning("could not store offsets: %s", exc)

    def drain(timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(tracker) and time.monotonic() < deadline:
            producer.flush(max(0.0, min(1.0, deadline - time.monotonic())))
            if tracker.failed():
                raise RuntimeError("passthrough delivery failed")
            release()

    def commit() -> None:
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                log.warning("commit failed: %s", exc)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = start_http_server(
        settings.metrics_host,
        settings.metrics_port,
        CollectorRegistry(),
        lambda: (True, {"assigned_partitions": len(assigned)}),
    )
    consumer.subscribe([settings.topic_input], on_assign=on_assign, on_revoke=on_revoke)
    produce = producer.produce
    try:
        while not stopping:
            messages = consume_batch(
                consumer,
                settings.batch_size,
                settings.poll_timeout_seconds,
                lambda: generation[0],
            )
            producer.poll(0)
            release()
            if not messages:
                continue
            records = [m for m in messages if m.error() is None]
            next_offsets: dict[tuple[str, int], int] = {}
            for record in records:
                topic, partition, offset = record.topic(), record.partition(), record.offset()
                # Set on every record consumed without an error (the client types them optional
                # for its error events).
                assert topic is not None and partition is not None and offset is not None
                next_offsets[(topic, partition)] = offset + 1
            if work is not None:
                work(records)
            batch = Batch(next_offsets, [], pending=len(records))
            tracker.add(batch)
            for record in records:
                while True:
                    try:
                        # Positional, as the service calls it (consumer.delivery).
                        produce(
                            output_topic,
                            record.value(),
                            record.key(),
                            ANY_PARTITION,
                            batch.on_delivery,
                        )
                        break
                    except BufferError:
                        producer.poll(0.05)
            producer.poll(0)
    finally:
        drain(settings.shutdown_timeout_seconds)
        commit()
        consumer.close()
        server.shutdown()
    return 0


def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return run(Settings(), os.environ["BENCH_PASSTHROUGH_OUTPUT"])


if __name__ == "__main__":
    sys.exit(main())

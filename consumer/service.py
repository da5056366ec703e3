"""The consume → process → produce loop, with offsets stored only behind confirmed deliveries."""

import contextlib
import logging
import signal
import time
from collections import Counter
from operator import attrgetter
from typing import Any

import redis
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from consumer.delivery import Batch, DeliveryTracker
from consumer.metrics import Metrics, observe_many
from consumer.pipeline import Output, Pipeline

log = logging.getLogger(__name__)

LAG_INTERVAL_SECONDS = 2.0
_OUTCOME_LABEL = attrgetter("outcome", "label")
MAX_DELIVERY_ATTEMPTS = 5


def consume_batch(consumer: Consumer, max_messages: int, timeout: float) -> list:
    """Up to `max_messages` of the records already fetched; if there are none, waits at most
    `timeout` seconds for the first one and returns it with whatever arrived alongside.

    `consume(n, timeout)` alone returns only when n records are there or the timeout expires, so
    below n records per poll timeout every record would wait for the timeout (50 ms by default).
    """
    messages = consumer.consume(max_messages, 0)
    if messages:
        return messages
    first = consumer.poll(timeout)
    if first is None:
        return []
    if max_messages <= 1:
        return [first]
    return [first, *consumer.consume(max_messages - 1, 0)]


class FatalError(RuntimeError):
    """The service cannot go on safely; it exits without storing offsets past the failure."""


class Service:
    def __init__(
        self,
        *,
        consumer: Consumer,
        producer: Producer,
        pipeline: Pipeline,
        dedup_ping: Any,
        metrics: Metrics,
        input_topic: str,
        batch_size: int,
        poll_timeout: float,
        shutdown_timeout: float,
        backoff_initial: float,
        backoff_max: float,
    ) -> None:
        self._consumer = consumer
        self._producer = producer
        self._pipeline = pipeline
        self._dedup_ping = dedup_ping
        self._metrics = metrics
        self._input_topic = input_topic
        self._batch_size = batch_size
        self._poll_timeout = poll_timeout
        self._shutdown_timeout = shutdown_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._tracker = DeliveryTracker()
        self._stopping = False
        self._redis_down_since: float | None = None
        self._backoff = backoff_initial
        self._next_redis_try = 0.0
        self._next_lag_update = 0.0
        self._delivery_attempts = 0
        self.last_loop_at = time.monotonic()
        self.assigned: list[TopicPartition] = []

    # -- lifecycle ----------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.info("stopping on signal", extra={"signal": signal.Signals(signum).name})
        self._stopping = True

    def stop(self) -> None:
        self._stopping = True

    @property
    def redis_available(self) -> bool:
        return self._redis_down_since is None

    def subscribe(self) -> None:
        self._consumer.subscribe(
            [self._input_topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )

    def run(self) -> int:
        self.subscribe()
        try:
            while not self._stopping:
                self.step()
        finally:
            self._shutdown()
        return 0

    def step(self) -> None:
        """One loop iteration; public so tests can drive the loop deterministically."""
        self.last_loop_at = now = time.monotonic()
        if self._redis_down_since is not None and not self._try_redis(now):
            self._consumer.pause(self._consumer.assignment())
            # poll() keeps group membership and serves callbacks; a record that slipped in
            # between an assignment and the pause is rewound, not skipped.
            message = self._consumer.poll(self._poll_timeout)
            if message is not None and message.error() is None:
                self._consumer.seek(
                    TopicPartition(message.topic(), message.partition(), message.offset())
                )
            self._service_producer()
            return
        messages = consume_batch(self._consumer, self._batch_size, self._poll_timeout)
        self._service_producer()
        if now >= self._next_lag_update:
            self._update_lag()
            self._next_lag_update = now + LAG_INTERVAL_SECONDS
        if not messages:
            return
        records = []
        for message in messages:
            error = message.error()
            if error is None:
                records.append(message)
            elif error.code() != KafkaError._PARTITION_EOF:
                self._metrics.kafka_errors.labels("consume").inc()
                log.warning("consume error", extra={"error": str(error)})
        if records:
            self._process(records)

    # -- the hot path -------------------------------------------------------------------------
    def _process(self, records: list) -> None:
        started = time.perf_counter()
        try:
            outputs = self._pipeline.process(records)
        except redis.RedisError as exc:
            self._on_redis_error(records, exc)
            return
        next_offsets: dict[tuple[str, int], int] = {}
        for record in records:
            next_offsets[(record.topic(), record.partition())] = record.offset() + 1
        timestamps = [record.timestamp()[1] for record in records]
        batch = Batch(next_offsets, timestamps, pending=len(outputs))
        self._tracker.add(batch)
        self._produce(outputs, batch.on_delivery)
        self._count(outputs)
        self._metrics.batch_size.observe(len(records))
        self._metrics.batch_seconds.observe(time.perf_counter() - started)

    def _produce(self, outputs: list[Output], on_delivery: Any) -> None:
        produce = self._producer.produce
        for out in outputs:
            while True:
                try:
                    produce(out.topic, out.value, out.key, on_delivery=on_delivery)
                    break
                except BufferError:
                    self._producer.poll(0.05)
        self._producer.poll(0)

    def _count(self, outputs: list[Output]) -> None:
        # One C-level pass over the batch; label lookups per distinct (outcome, label) only.
        per_label = Counter(map(_OUTCOME_LABEL, outputs))
        per_outcome: Counter[str] = Counter()
        for (outcome, _label), n in per_label.items():
            per_outcome[outcome] += n
        for outcome, n in per_outcome.items():
            self._metrics.events.labels(outcome).inc(n)
        for (outcome, label), n in per_label.items():
            if outcome in ("tagged", "review"):
                self._metrics.tags.labels(label, outcome).inc(n)
        for (outcome, code), n in per_label.items():
            if outcome == "dead_letter":
                self._metrics.dead_letters.labels(code).inc(n)

    # -- deliveries and offsets ---------------------------------------------------------------
    def _service_producer(self) -> None:
        self._producer.poll(0)
        self._retry_failed()
        self._release_offsets()

    def _retry_failed(self) -> None:
        failed = self._tracker.failed()
        if not failed:
            return
        self._delivery_attempts += 1
        if self._delivery_attempts > MAX_DELIVERY_ATTEMPTS:
            raise FatalError(f"outputs undeliverable after {MAX_DELIVERY_ATTEMPTS} attempts")
        for batch in failed:
            items, batch.failed = batch.failed, []
            for item in items:
                self._metrics.kafka_errors.labels("produce").inc()
                log.warning(
                    "delivery failed; producing again",
                    extra={"topic": item.topic, "error": str(item.error)},
                )
                if item.error.fatal():
                    raise FatalError(f"fatal producer error: {item.error}")
                batch.pending += 1
                self._producer.produce(
                    item.topic, item.value, item.key, on_delivery=batch.on_delivery
                )

    def _release_offsets(self) -> None:
        done, offsets = self._tracker.pop_completed()
        if not done:
            return
        self._delivery_attempts = 0
        try:
            self._consumer.store_offsets(offsets=offsets)
        except KafkaException as exc:
            # Partition no longer assigned (revoked meanwhile): its new owner re-processes.
            self._metrics.kafka_errors.labels("store_offsets").inc()
            log.warning("could not store offsets", extra={"error": str(exc)})
        now_ms = time.time() * 1000.0
        observe_many(
            self._metrics.end_to_end_seconds,
            [max(now_ms - ts, 0.0) / 1000.0 for batch in done for ts in batch.source_timestamps_ms],
        )

    def _drain(self, timeout: float) -> bool:
        """Wait for every in-flight output; True when nothing is left unacknowledged."""
        deadline = time.monotonic() + timeout
        while len(self._tracker) and time.monotonic() < deadline:
            self._producer.flush(max(0.0, min(1.0, deadline - time.monotonic())))
            self._retry_failed()
            self._release_offsets()
        return not len(self._tracker)

    def _commit(self) -> None:
        try:
            self._consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                self._metrics.kafka_errors.labels("commit").inc()
                log.warning("commit failed", extra={"error": str(exc)})

    # -- rebalances ---------------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned = list(partitions)
        self._metrics.assigned_partitions.set(len(partitions))
        log.info("partitions assigned", extra={"partitions": [p.partition for p in partitions]})

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        drained = self._drain(self._shutdown_timeout)
        self._commit()
        dropped = self._tracker.clear()
        self._forget_partitions(partitions)
        log.info(
            "partitions revoked",
            extra={
                "partitions": [p.partition for p in partitions],
                "drained": drained,
                "dropped_batches": dropped,
            },
        )

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._drain(self._shutdown_timeout)
        self._tracker.clear()
        self._forget_partitions(partitions)
        log.warning("partitions lost", extra={"partitions": [p.partition for p in partitions]})

    def _forget_partitions(self, partitions: list[TopicPartition]) -> None:
        for p in partitions:
            with contextlib.suppress(KeyError):
                self._metrics.consumer_lag.remove(p.topic, str(p.partition))
        self.assigned = []
        self._metrics.assigned_partitions.set(0)

    # -- Redis outages ------------------------------------------------------------------------
    def _on_redis_error(self, records: list, exc: Exception) -> None:
        """Rewind to the batch's first offsets and pause: nothing leaves without its dedup check."""
        self._metrics.redis_errors.inc()
        first: dict[tuple[str, int], int] = {}
        for record in records:
            first.setdefault((record.topic(), record.partition()), record.offset())
        for (topic, partition), offset in first.items():
            try:
                self._consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException as seek_error:
                log.warning("seek failed", extra={"error": str(seek_error)})
        self._consumer.pause(self._consumer.assignment())
        if self._redis_down_since is None:
            self._redis_down_since = time.monotonic()
            self._backoff = self._backoff_initial
            log.error("redis unavailable; pausing consumption", extra={"error": str(exc)})
        self._metrics.paused.set(1)
        self._next_redis_try = time.monotonic() + self._backoff

    def _try_redis(self, now: float) -> bool:
        if now < self._next_redis_try:
            return False
        if not self._dedup_ping():
            self._metrics.redis_errors.inc()
            self._backoff = min(self._backoff * 2, self._backoff_max)
            self._next_redis_try = now + self._backoff
            return False
        down_for = now - (self._redis_down_since or now)
        self._redis_down_since = None
        self._metrics.paused.set(0)
        self._consumer.resume(self._consumer.assignment())
        log.info("redis is back; resuming", extra={"down_seconds": round(down_for, 3)})
        return True

    # -- observability ------------------------------------------------------------------------
    def _update_lag(self) -> None:
        assignment = self._consumer.assignment()
        if not assignment:
            return
        try:
            positions = self._consumer.position(assignment)
        except KafkaException:
            return
        for tp in positions:
            try:
                low, high = self._consumer.get_watermark_offsets(tp, cached=True)
            except KafkaException:
                continue
            if high < 0:
                continue
            position = tp.offset if tp.offset >= 0 else low
            self._metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(
                max(high - position, 0)
            )

    def _shutdown(self) -> None:
        drained = self._drain(self._shutdown_timeout)
        self._commit()
        self._consumer.close()
        log.info("stopped", extra={"drained": drained})

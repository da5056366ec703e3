"""The consume → process → produce loop, with offsets stored only behind confirmed deliveries."""

import contextlib
import logging
import signal
import time
from collections import Counter
from collections.abc import Callable
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


def consume_batch(
    consumer: Consumer, max_messages: int, timeout: float, generation: Callable[[], int]
) -> list:
    """Up to `max_messages` of the records already fetched; if there are none, waits at most
    `timeout` seconds for the first one and returns it with whatever arrived alongside.

    `consume(n, timeout)` alone returns only when n records are there or the timeout expires, so
    below n records per poll timeout every record would wait for the timeout (50 ms by default).
    A record polled before a rebalance that happens in the second call is dropped: its partition
    was revoked, its offset never stored, and the next owner reads it again.
    """
    messages = consumer.consume(max_messages, 0)
    if messages:
        return messages
    first = consumer.poll(timeout)
    if first is None:
        return []
    if max_messages <= 1:
        return [first]
    before = generation()
    rest = consumer.consume(max_messages - 1, 0)
    return rest if generation() != before else [first, *rest]


class FatalError(RuntimeError):
    """The service cannot go on safely; it exits without storing offsets past the failure."""


class Service:
    def __init__(
        self,
        *,
        consumer: Consumer,
        producer: Producer,
        pipeline: Pipeline,
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
        self._metrics = metrics
        self._input_topic = input_topic
        self._batch_size = batch_size
        self._poll_timeout = poll_timeout
        self._shutdown_timeout = shutdown_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._tracker = DeliveryTracker()
        self._stopping = False
        # Records consumed but not yet processed because Redis failed; None while Redis works.
        self._held: list | None = None
        self._redis_down_since = 0.0
        self._backoff = backoff_initial
        self._next_redis_try = 0.0
        self._next_lag_update = 0.0
        self._generation = 0
        self._fatal = False
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
        return self._held is None

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
        except FatalError:
            self._fatal = True
            raise
        finally:
            self._shutdown()
        return 0

    def step(self) -> None:
        """One loop iteration; public so tests can drive the loop deterministically."""
        self.last_loop_at = now = time.monotonic()
        if now >= self._next_lag_update:
            self._update_lag()
            self._next_lag_update = now + LAG_INTERVAL_SECONDS
        if self._held is not None:
            self._during_outage(now)
            return
        messages = consume_batch(
            self._consumer, self._batch_size, self._poll_timeout, self._current_generation
        )
        self._service_producer()
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
    def _current_generation(self) -> int:
        return self._generation

    def _process(self, records: list) -> None:
        started = time.perf_counter()
        try:
            outputs = self._pipeline.process(records)
        except redis.RedisError as exc:
            self._on_redis_error(records, exc)
            return
        if self._held is not None:
            self._on_redis_back()
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
        for out in outputs:
            self._produce_one(out.topic, out.value, out.key, on_delivery)
        self._producer.poll(0)

    def _produce_one(self, topic: str, value: bytes, key: bytes | None, on_delivery: Any) -> None:
        while True:
            try:
                self._producer.produce(topic, value, key, on_delivery=on_delivery)
                return
            except BufferError:
                self._producer.poll(0.05)  # local queue full: wait for deliveries
            except KafkaException as exc:
                # Outputs are bounded by the input limits (see Settings.max_message_bytes), so
                # this is configuration or infrastructure, not input: stop without storing past it.
                self._metrics.kafka_errors.labels("produce").inc()
                raise FatalError(f"cannot produce to {topic}: {exc}") from exc

    def _count(self, outputs: list[Output]) -> None:
        # One C-level pass over the batch; label lookups per distinct (outcome, label) only.
        metrics = self._metrics
        for (outcome, label), n in Counter(map(_OUTCOME_LABEL, outputs)).items():
            metrics.events.labels(outcome).inc(n)
            if outcome in ("tagged", "review"):
                metrics.tags.labels(label, outcome).inc(n)
            elif outcome == "dead_letter":
                metrics.dead_letters.labels(label).inc(n)

    # -- deliveries and offsets ---------------------------------------------------------------
    def _service_producer(self) -> None:
        self._producer.poll(0)
        self._retry_failed()
        self._release_offsets()

    def _retry_failed(self) -> None:
        for batch in self._tracker.failed():
            batch.attempts += 1
            items, batch.failed = batch.failed, []
            for item in items:
                self._metrics.kafka_errors.labels("produce").inc()
                if item.error.fatal() or batch.attempts > MAX_DELIVERY_ATTEMPTS:
                    raise FatalError(
                        f"output to {item.topic} undeliverable after {batch.attempts} attempts: "
                        f"{item.error}"
                    )
                log.warning(
                    "delivery failed; producing again",
                    extra={"topic": item.topic, "error": str(item.error)},
                )
                batch.pending += 1
                self._produce_one(item.topic, item.value, item.key, batch.on_delivery)

    def _release_offsets(self) -> None:
        done, offsets = self._tracker.pop_completed()
        if not offsets:
            return
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
            if not self._fatal:
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
        drained, dropped = self._release(partitions, commit=True)
        log.info(
            "partitions revoked",
            extra={
                "partitions": [p.partition for p in partitions],
                "drained": drained,
                "dropped_batches": dropped,
            },
        )

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._release(partitions, commit=False)
        log.warning("partitions lost", extra={"partitions": [p.partition for p in partitions]})

    def _release(self, partitions: list[TopicPartition], *, commit: bool) -> tuple[bool, int]:
        """Give up `partitions`: in-flight outputs are delivered (and, on a revoke, committed);
        anything not yet processed is left for the next owner. Returns (drained, dropped)."""
        self._generation += 1
        if self._held is not None:
            self._held = []  # their offsets were never stored: the next owner reads them again
        drained = self._drain(self._shutdown_timeout)
        if commit:
            self._commit()
        dropped = self._tracker.clear()
        for p in partitions:
            with contextlib.suppress(KeyError):
                self._metrics.consumer_lag.remove(p.topic, str(p.partition))
        self.assigned = []
        self._metrics.assigned_partitions.set(0)
        return drained, dropped

    # -- Redis outages ------------------------------------------------------------------------
    def _on_redis_error(self, records: list, exc: Exception) -> None:
        """Hold the batch and pause: nothing leaves without its dedup check, nothing is skipped."""
        self._metrics.redis_errors.inc()
        now = time.monotonic()
        if self._held is None:
            self._redis_down_since = now
            self._backoff = self._backoff_initial
            log.error("redis unavailable; pausing consumption", extra={"error": str(exc)})
        else:
            self._backoff = min(self._backoff * 2, self._backoff_max)
        self._held = records
        self._consumer.pause(self._consumer.assignment())
        self._metrics.paused.set(1)
        self._next_redis_try = now + self._backoff

    def _during_outage(self, now: float) -> None:
        """Stay in the group and keep deliveries flowing; retry the held batch on schedule.

        Redis counts as back only when the batch's own dedup script succeeds, not on PING: a
        read-only replica or a full Redis answers PING but cannot take the write.
        """
        assert self._held is not None
        if now >= self._next_redis_try:
            if self._held:
                self._process(self._held)
            else:  # a rebalance emptied the held batch: try Redis on new input
                self._on_redis_back()
            return
        self._consumer.pause(self._consumer.assignment())  # partitions assigned meanwhile
        message = self._consumer.poll(self._poll_timeout)
        if message is not None and message.error() is None:
            self._held.append(message)  # slipped in between an assignment and the pause
        self._service_producer()

    def _on_redis_back(self) -> None:
        down_for = time.monotonic() - self._redis_down_since
        self._held = None
        self._metrics.paused.set(0)
        self._consumer.resume(self._consumer.assignment())
        log.info("redis is back; resuming", extra={"down_seconds": round(down_for, 3)})

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
        drained = False
        try:
            drained = self._drain(self._shutdown_timeout)
            self._commit()
        finally:
            self._consumer.close()
        log.info("stopped", extra={"drained": drained, "fatal": self._fatal})

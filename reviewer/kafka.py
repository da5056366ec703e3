"""The app's Kafka clients: the feedback producer, the review-topic reader (its own consumer
group, offsets committed by hand), the tagged-topic reader (for reports) and the startup read of
the feedback topic. Client settings come from the service's conventions (`consumer.kafka`), so the
same KAFKA_SASL_* / KAFKA_SSL_* / KAFKA_CONFIG_* variables configure both.

Each reader runs in a thread of its own, the only thread that touches its consumer.
"""

import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from pydantic import ValidationError

from consumer.kafka import common_config
from reviewer.config import ReviewerSettings
from reviewer.feedback import FeedbackWriteError
from reviewer.index import EventIndex
from reviewer.items import ReviewEvent
from reviewer.metrics import ReviewerMetrics
from reviewer.queue import Position, ReviewQueue
from schemas.events import ClassifiedEvent
from schemas.feedback import FeedbackRecord
from streams.snapshot import TopicReadError, TopicRecord, read_to_end

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
COMMIT_INTERVAL_SECONDS = 1.0
LAG_INTERVAL_SECONDS = 5.0
RETRY_SECONDS = 5.0
"""How long the tagged reader waits before it tries again after a broker error."""
RESUME_FRACTION = 0.8
"""Reading resumes once the held records fall below this share of REVIEWER_MAX_HELD."""


class HistoryReadError(RuntimeError):
    """The feedback topic could not be read to its end: the app must not start without it."""


DELIVERY_MARGIN_MS = 2000
"""How much sooner than REVIEWER_WRITE_TIMEOUT_SECONDS the producer gives a record up
(`message.timeout.ms`): librdkafka scans for timed-out records about once a second."""
MIN_DELIVERY_TIMEOUT_MS = 1000


def delivery_timeout_ms(write_timeout: float) -> int:
    """The producer's `message.timeout.ms` for a write timeout: below it, so the delivery report
    is final before `write` answers."""
    return max(int(write_timeout * 1000) - DELIVERY_MARGIN_MS, MIN_DELIVERY_TIMEOUT_MS)


class KafkaFeedbackSink:
    """Idempotent producer, acks=all; `write` flushes, so a record is acknowledged by every
    in-sync replica before the request that made it answers success.

    A failed write must leave nothing behind that could still be delivered after the request
    answered 503 "nothing changed": the producer gives a record up after `message.timeout.ms`
    (`delivery_timeout_ms`, below REVIEWER_WRITE_TIMEOUT_SECONDS rather than librdkafka's
    default of 300 s), so its delivery report is normally final within the flush; should the
    flush still time out, the producer's queue is purged (`Producer.purge`) and the purge's
    delivery reports served before `write` raises. A record already sent to the broker when it
    is purged may still have been written (no client can recall it); one whose delivery report
    says it was acknowledged counts as written.
    """

    def __init__(self, settings: ReviewerSettings, **overrides: Any) -> None:
        self._topic = settings.topic_feedback
        self._timeout = settings.reviewer_write_timeout_seconds
        self._producer = Producer(
            {
                **common_config(settings.kafka_bootstrap_servers),
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 0,
                "compression.type": "lz4",
                "message.timeout.ms": delivery_timeout_ms(self._timeout),
                **overrides,
            }
        )
        self._lock = threading.Lock()

    def write(self, record: FeedbackRecord) -> None:
        outcome: list[KafkaError | None] = []

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            outcome.append(err)

        with self._lock:
            try:
                self._producer.produce(
                    self._topic,
                    key=record.key,
                    value=record.model_dump_json().encode(),
                    on_delivery=delivered,
                )
            except (BufferError, KafkaException) as exc:
                raise FeedbackWriteError(f"not queued: {exc}") from exc
            remaining = self._producer.flush(self._timeout)
            timed_out = not outcome
            if timed_out:
                # Not to be delivered after the 503: drop it, and serve the purge's report.
                self._producer.purge()
                self._producer.flush(0)
        if timed_out and (not outcome or outcome[0] is not None):
            raise FeedbackWriteError(
                f"not acknowledged within {self._timeout:g} s ({remaining} record(s) in flight)"
            )
        if outcome[0] is not None:
            raise FeedbackWriteError(str(outcome[0]))

    def close(self) -> None:
        with self._lock:
            self._producer.flush(self._timeout)


def read_feedback(settings: ReviewerSettings, timeout: float) -> list[TopicRecord]:
    """Every committed record of the feedback topic, from the beginning to the end offsets found
    at the start (`streams.snapshot.read_to_end`). A missing topic has no decisions; an
    unreachable broker or a read that does not finish in `timeout` raises `HistoryReadError`
    (better no app than one that shows decided items again)."""
    topic = settings.topic_feedback
    config = {
        **common_config(settings.kafka_bootstrap_servers),
        "group.id": f"{settings.reviewer_group_id}-history",
    }
    try:
        records = read_to_end(config, topic, timeout)
    except TopicReadError as exc:
        raise HistoryReadError(str(exc)) from exc
    if records is None:
        log.warning("no feedback history", extra={"topic": topic, "reason": "no such topic"})
        return []
    return records


def _enqueued_at(msg: Message, event: ClassifiedEvent, now: datetime) -> datetime:
    """When the item entered the queue: the record's timestamp on the review topic (the broker's
    append time there), else the service's classification time."""
    kind, ms = msg.timestamp()
    if kind != TIMESTAMP_NOT_AVAILABLE and ms > 0:
        return datetime.fromtimestamp(ms / 1000, UTC)
    at = event.classified_at
    return at if at.tzinfo is not None else now


class _Reader:
    """A consumer driven by one daemon thread; `stop` ends the loop and closes the consumer."""

    name = "reader"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._guarded, name=self.name, daemon=True)
        self.error: str | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and self.error is None

    def _guarded(self) -> None:
        try:
            self._run()
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("%s stopped", self.name)

    def _run(self) -> None:
        raise NotImplementedError


class ReviewReader(_Reader):
    """Reads the review topic as REVIEWER_GROUP_ID into the queue; commits, every second, the
    offsets below each partition's first undecided record; measures the lag for the queue depth;
    pauses while REVIEWER_MAX_HELD records wait undecided, so a backlog stays on the broker."""

    name = "review-reader"

    def __init__(
        self,
        settings: ReviewerSettings,
        queue: ReviewQueue,
        index: EventIndex,
        metrics: ReviewerMetrics,
        clock: Callable[[], datetime],
        **overrides: Any,
    ) -> None:
        super().__init__()
        self._topic = settings.topic_review
        self._queue, self._index, self._metrics, self._clock = queue, index, metrics, clock
        self._max_held = settings.reviewer_max_held
        self._consumer = Consumer(
            {
                **common_config(settings.kafka_bootstrap_servers),
                "group.id": settings.reviewer_group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "session.timeout.ms": 30000,
                **overrides,
            }
        )
        self._assigned: set[int] = set()
        self._committed: dict[int, int] = {}
        self._paused = False
        self._high: dict[int, int] = {}
        self._next: dict[int, int] = {}
        metrics.consumer_lag.set_function(lambda: self.lag)

    @property
    def assigned(self) -> list[int]:
        return sorted(set(self._assigned))

    def _run(self) -> None:
        self._consumer.subscribe([self._topic], on_assign=self._on_assign, on_revoke=self._revoke)
        next_commit = next_lag = 0.0
        try:
            while not self._stop.is_set():
                msg = self._consumer.poll(POLL_SECONDS)
                if msg is not None:
                    self._handle(msg)
                now = time.monotonic()
                if now >= next_commit:
                    self._commit()
                    next_commit = now + COMMIT_INTERVAL_SECONDS
                if now >= next_lag:
                    self._measure_lag()
                    next_lag = now + LAG_INTERVAL_SECONDS
                self._backpressure()
        finally:
            self._commit()
            self._consumer.close()

    def _handle(self, msg: Message) -> None:
        err = msg.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                log.warning("review topic error", extra={"error": str(err)})
            return
        p, offset, value = msg.partition(), msg.offset(), msg.value()
        if p is None or offset is None:
            return
        position = Position(p, offset)
        self._next[p] = max(self._next.get(p, 0), offset + 1)
        try:
            event = ClassifiedEvent.model_validate_json(value or b"")
            item = ReviewEvent.from_classified(event)
        except ValidationError as exc:
            # No ClassifiedEvent, or one no feedback record can be built from (e.g. an empty
            # model_version): it could never be decided, so it is handled (committed) as read.
            self._metrics.invalid_records.inc()
            log.warning(
                "review record is no reviewable ClassifiedEvent: passed over",
                extra={"partition": p, "offset": offset, "error": str(exc)[:300]},
            )
            self._queue.add_unreadable(position)
            return
        self._index.put(item)
        self._queue.add_review(item, position, _enqueued_at(msg, event, self._clock()))

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned |= {tp.partition for tp in partitions}
        self._paused = False
        log.info("review partitions assigned", extra={"partitions": sorted(self._assigned)})

    def _revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._commit()
        gone = {tp.partition for tp in partitions}
        self._queue.revoke(gone)
        self._assigned -= gone
        for p in gone:
            self._committed.pop(p, None)
            self._high.pop(p, None)
            self._next.pop(p, None)
        log.info("review partitions revoked", extra={"partitions": sorted(gone)})

    def _commit(self) -> None:
        offsets = [
            TopicPartition(self._topic, p, o)
            for p, o in self._queue.commit_offsets().items()
            if p in self._assigned and self._committed.get(p) != o
        ]
        if not offsets:
            return
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            log.warning("commit failed; retried", extra={"error": str(exc)})
            return
        for tp in offsets:
            self._committed[tp.partition] = tp.offset

    @property
    def lag(self) -> int:
        """Records on the assigned partitions not read yet: the last measured end offsets
        against what was read since (so reading never counts an item twice, as lag and as held;
        records appended since the last measure are missed for up to LAG_INTERVAL_SECONDS)."""
        high, read_to = dict(self._high), dict(self._next)
        return sum(max(end - read_to.get(p, end), 0) for p, end in high.items())

    def _measure_lag(self) -> None:
        tps = [TopicPartition(self._topic, p) for p in sorted(self._assigned)]
        if not tps:
            return
        try:
            positions = self._consumer.position(tps)
            unknown = [
                TopicPartition(self._topic, tp.partition) for tp in positions if tp.offset < 0
            ]
            committed = (
                {tp.partition: tp.offset for tp in self._consumer.committed(unknown, timeout=2.0)}
                if unknown
                else {}
            )
            for tp in positions:
                low, high = self._consumer.get_watermark_offsets(
                    TopicPartition(self._topic, tp.partition), timeout=2.0
                )
                at = tp.offset if tp.offset >= 0 else committed.get(tp.partition, -1)
                at = max(at, low)
                self._next[tp.partition] = max(self._next.get(tp.partition, at), at)
                self._high[tp.partition] = high
        except KafkaException as exc:
            log.debug("lag not measured", extra={"error": str(exc)})

    def _backpressure(self) -> None:
        held = self._queue.held_records()
        tps = [TopicPartition(self._topic, p) for p in sorted(self._assigned)]
        if not tps:
            return
        if not self._paused and held >= self._max_held:
            self._consumer.pause(tps)
            self._paused = True
            log.info("review reading paused", extra={"held": held})
        elif self._paused and held < self._max_held * RESUME_FRACTION:
            self._consumer.resume(tps)
            self._paused = False
            log.info("review reading resumed", extra={"held": held})


class TaggedReader(_Reader):
    """Fills the event index from the tail of the tagged topic, then follows it. Assigned, not
    subscribed: every instance of the app wants every partition, and no offsets are committed
    (the index starts from the tail again after a restart)."""

    name = "tagged-reader"

    def __init__(self, settings: ReviewerSettings, index: EventIndex, **overrides: Any) -> None:
        super().__init__()
        self._topic = settings.topic_tagged
        self._index = index
        self._capacity = settings.reviewer_index_size
        self._consumer = Consumer(
            {
                **common_config(settings.kafka_bootstrap_servers),
                "group.id": f"{settings.reviewer_group_id}-tagged",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "latest",
                **overrides,
            }
        )
        self.indexed = 0

    def _run(self) -> None:
        try:
            while not self._stop.is_set() and not self._assign():
                self._stop.wait(RETRY_SECONDS)
            while not self._stop.is_set():
                try:
                    msg = self._consumer.poll(POLL_SECONDS)
                except KafkaException as exc:  # transient or not, retried: reports need it
                    log.warning("tagged topic not read; retrying", extra={"error": str(exc)})
                    self._stop.wait(RETRY_SECONDS)
                    continue
                if msg is None or msg.error() is not None:
                    continue
                try:
                    event = ClassifiedEvent.model_validate_json(msg.value() or b"")
                    item = ReviewEvent.from_classified(event)
                except ValidationError:
                    continue
                self._index.put(item)
                self.indexed += 1
        finally:
            self._consumer.close()

    def _assign(self) -> bool:
        try:
            meta = self._consumer.list_topics(self._topic, timeout=10).topics.get(self._topic)
        except KafkaException as exc:
            log.warning("tagged topic not listed; retrying", extra={"error": str(exc)})
            return False
        if meta is None or meta.error is not None or not meta.partitions:
            log.warning("tagged topic missing; retrying", extra={"topic": self._topic})
            return False
        share = math.ceil(self._capacity / len(meta.partitions))
        tps = []
        try:
            for p in sorted(meta.partitions):
                low, high = self._consumer.get_watermark_offsets(
                    TopicPartition(self._topic, p), timeout=10
                )
                tps.append(TopicPartition(self._topic, p, max(low, high - share)))
            self._consumer.assign(tps)
        except KafkaException as exc:
            log.warning("tagged topic offsets not read; retrying", extra={"error": str(exc)})
            return False
        log.info("tagged topic followed", extra={"partitions": len(tps), "per_partition": share})
        return True

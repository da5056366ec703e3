"""Delivery bookkeeping: an input offset becomes committable only after its outputs are
acknowledged.

Outputs are tracked per consumed batch (one callback object per batch, not per event). Batches
complete in any order but their offsets are released strictly in consumption order, so the stored
offset of a partition never passes an event whose output is still in flight. A failed delivery is
produced again a bounded number of times; past that, or on a fatal error, the service stops without
storing past it.
"""

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from consumer.metrics import Metrics, observe_since

log = logging.getLogger(__name__)

MAX_DELIVERY_ATTEMPTS = 5


class FatalError(RuntimeError):
    """The service cannot go on safely; it exits without storing offsets past the failure."""


class Output(Protocol):
    """What is produced for one event (see `consumer.pipeline.Output`)."""

    @property
    def topic(self) -> str: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes: ...


@dataclass(slots=True)
class Failed:
    topic: str
    key: bytes | None
    value: bytes
    error: KafkaError

    @classmethod
    def of(cls, msg: Message, error: KafkaError) -> "Failed":
        """A produced message always has its topic and value (we produced them)."""
        topic, value = msg.topic(), msg.value()
        if topic is None or value is None:
            raise FatalError(f"delivery report without a topic or value: {error}")
        return cls(topic, msg.key(), value, error)


@dataclass(slots=True)
class Batch:
    next_offsets: dict[tuple[str, int], int]
    source_timestamps_ms: list[int]
    pending: int = 0
    attempts: int = 0
    failed: list[Failed] = field(default_factory=list)

    def on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        self.pending -= 1
        if err is not None:
            self.failed.append(Failed.of(msg, err))

    @property
    def done(self) -> bool:
        return self.pending == 0 and not self.failed


class DeliveryTracker:
    def __init__(self) -> None:
        self._batches: deque[Batch] = deque()

    def add(self, batch: Batch) -> None:
        self._batches.append(batch)

    def __len__(self) -> int:
        return len(self._batches)

    def failed(self) -> list[Batch]:
        return [b for b in self._batches if b.failed]

    def pop_completed(self) -> tuple[list[Batch], list[TopicPartition]]:
        """Completed batches from the front, and the offsets they make committable."""
        done: list[Batch] = []
        offsets: dict[tuple[str, int], int] = {}
        while self._batches and self._batches[0].done:
            batch = self._batches.popleft()
            done.append(batch)
            offsets.update(batch.next_offsets)
        return done, [TopicPartition(t, p, o) for (t, p), o in offsets.items()]

    def clear(self) -> int:
        """Forget unfinished batches (their partitions were revoked); returns how many."""
        n = len(self._batches)
        self._batches.clear()
        return n


OnDelivery = Callable[[KafkaError | None, Message], None]

# librdkafka's RD_KAFKA_PARTITION_UA, the client's own default: the partitioner picks by key.
ANY_PARTITION = -1


class ProducerLike(Protocol):
    """The subset of confluent_kafka.Producer delivery bookkeeping uses."""

    def produce(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        partition: int,
        on_delivery: OnDelivery,
        /,
    ) -> None:
        """confluent-kafka's `produce(topic, value, key, partition, on_delivery)`, called with
        positional arguments: parsing keyword arguments cost about 0.3 µs of each record's
        1 µs call (docs/performance.md). The client's fifth parameter is the delivery callback
        (`on_delivery`, or its alias `callback`, as the type stubs name it), hence
        positional-only here."""
        ...

    def poll(self, timeout: float) -> int: ...
    def flush(self, timeout: float) -> int: ...


class Deliveries:
    """Produces each batch's outputs, produces failed ones again, and hands back the input
    offsets that every output before them has made safe to store.

    :param producer: the service's producer.
    :param store_offsets: stores committable offsets (the consumer's `store_offsets`).
    :param metrics: `kafka_errors` and `end_to_end_seconds` are updated here.
    :param max_attempts: deliveries of one batch that may fail before the service stops.
    """

    def __init__(
        self,
        producer: ProducerLike,
        store_offsets: Callable[[list[TopicPartition]], None],
        metrics: Metrics,
        max_attempts: int = MAX_DELIVERY_ATTEMPTS,
    ) -> None:
        self._producer = producer
        self._store_offsets = store_offsets
        self._metrics = metrics
        self._max_attempts = max_attempts
        self._tracker = DeliveryTracker()

    def __len__(self) -> int:
        """Batches with outputs still unacknowledged (or acknowledged behind one that is)."""
        return len(self._tracker)

    def send(
        self,
        outputs: Sequence[Output],
        next_offsets: dict[tuple[str, int], int],
        source_timestamps_ms: list[int],
    ) -> None:
        """Produce one consumed batch's outputs; its offsets are stored once all are delivered."""
        batch = Batch(next_offsets, source_timestamps_ms, pending=len(outputs))
        self._tracker.add(batch)
        on_delivery, produce = batch.on_delivery, self._producer.produce
        for out in outputs:
            # The client's call straight away (no Python frame of ours per record): only a
            # record it refuses goes the slow way, which waits out a full queue or stops.
            try:
                produce(out.topic, out.value, out.key, ANY_PARTITION, on_delivery)
            except (BufferError, KafkaException):
                self._produce(out.topic, out.value, out.key, on_delivery)
        self._producer.poll(0)

    def service(self) -> None:
        """Serve delivery callbacks, produce failed outputs again, store what is now safe."""
        self._producer.poll(0)
        self.retry_failed()
        self.release()

    def drain(self, timeout: float, *, retry: bool = True) -> bool:
        """Wait for every in-flight output; True when nothing is left unacknowledged."""
        deadline = time.monotonic() + timeout
        while len(self._tracker) and time.monotonic() < deadline:
            self._producer.flush(max(0.0, min(1.0, deadline - time.monotonic())))
            if retry:
                self.retry_failed()
            self.release()
        return not len(self._tracker)

    def clear(self) -> int:
        """Forget unfinished batches (their partitions were given up); returns how many."""
        return self._tracker.clear()

    def retry_failed(self) -> None:
        for batch in self._tracker.failed():
            batch.attempts += 1
            items, batch.failed = batch.failed, []
            for item in items:
                self._metrics.kafka_errors.labels("produce").inc()
                if item.error.fatal() or batch.attempts > self._max_attempts:
                    raise FatalError(
                        f"output to {item.topic} undeliverable after {batch.attempts} attempts: "
                        f"{item.error}"
                    )
                log.warning(
                    "delivery failed; producing again",
                    extra={"topic": item.topic, "error": str(item.error)},
                )
                batch.pending += 1
                self._produce(item.topic, item.value, item.key, batch.on_delivery)

    def release(self) -> None:
        """Store the offsets completed batches make safe, and time their events end to end."""
        done, offsets = self._tracker.pop_completed()
        if not offsets:
            return
        try:
            self._store_offsets(offsets)
        except KafkaException as exc:
            # Partition no longer assigned (revoked meanwhile): its new owner re-processes.
            self._metrics.kafka_errors.labels("store_offsets").inc()
            log.warning("could not store offsets", extra={"error": str(exc)})
        now_ms = time.time() * 1000.0
        observe_since(
            self._metrics.end_to_end_seconds, now_ms, [b.source_timestamps_ms for b in done]
        )

    def _produce(
        self, topic: str, value: bytes, key: bytes | None, on_delivery: OnDelivery
    ) -> None:
        while True:
            try:
                self._producer.produce(topic, value, key, ANY_PARTITION, on_delivery)
                return
            except BufferError:
                self._producer.poll(0.05)  # local queue full: wait for deliveries
            except KafkaException as exc:
                # Outputs are bounded by the input limits (see Settings.max_message_bytes), so
                # this is configuration or infrastructure, not input: stop without storing past it.
                self._metrics.kafka_errors.labels("produce").inc()
                raise FatalError(f"cannot produce to {topic}: {exc}") from exc

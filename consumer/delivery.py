"""Delivery tracking: an input offset becomes committable only after its output is acknowledged.

Outputs are tracked per consumed batch (one callback object per batch, not per event). Batches
complete in any order but their offsets are released strictly in consumption order, so the stored
offset of a partition never passes an event whose output is still in flight.
"""

from collections import deque
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, Message, TopicPartition


@dataclass(slots=True)
class Failed:
    topic: str
    key: bytes | None
    value: bytes
    error: KafkaError


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
            self.failed.append(Failed(msg.topic(), msg.key(), msg.value(), err))

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

"""A topic's committed records, from its beginning up to the end offsets found at the start.

What "read the whole feedback topic" means for the label export and for the reviewer app at
start: a consumer that commits nothing (its group id is the caller's) and reads read_committed,
so a record of an aborted or still open transaction is not read; records appended after the
start are not waited for, so the read ends.
"""

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)


class TopicReadError(RuntimeError):
    """The topic could not be read to its end: unreachable, unreadable, or too slow."""


@dataclass(frozen=True, slots=True)
class TopicRecord:
    """One record: its position, key and value (value None: a tombstone)."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def read_to_end(config: Mapping[str, Any], topic: str, timeout: float) -> list[TopicRecord] | None:
    """Every committed record of `topic`, partition by partition in offset order; None if the
    topic does not exist.

    :param config: librdkafka settings: at least `bootstrap.servers` and `group.id` (never
        committed to), plus any security settings.
    :param timeout: seconds for the whole read; past them, `TopicReadError`.
    """
    consumer = Consumer(
        {
            **config,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
    )
    deadline = time.monotonic() + timeout
    try:
        try:
            meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        except KafkaException as exc:
            raise TopicReadError(f"cannot list {topic!r}: {exc}") from exc
        if meta is None or (meta.error is None and not meta.partitions):
            return None
        if meta.error is not None:
            # Only "no such topic" means nothing was ever written; anything else (no access, a
            # leader not elected yet after a restart) would pass for an empty history.
            if meta.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                return None
            raise TopicReadError(f"cannot read {topic!r}: {meta.error}")
        ends: dict[int, int] = {}
        for p in sorted(meta.partitions):
            try:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, p), timeout=max(deadline - time.monotonic(), 1.0)
                )
            except KafkaException as exc:
                raise TopicReadError(f"{topic!r}[{p}]: no watermarks: {exc}") from exc
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        records: list[TopicRecord] = []
        while ends:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TopicReadError(
                    f"{topic!r}: end not reached within {timeout:g} s; partitions still "
                    f"reading: {sorted(ends)}"
                )
            for msg in consumer.consume(1000, min(remaining, 0.5)):
                p, offset, err = msg.partition(), msg.offset(), msg.error()
                if p is None or offset is None:
                    continue
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        if p in ends and offset >= ends[p]:
                            del ends[p]
                        continue
                    raise TopicReadError(f"{topic!r}[{p}]: {err}")
                if p not in ends or offset >= ends[p]:
                    continue
                records.append(TopicRecord(p, offset, msg.key(), msg.value()))
                if offset + 1 >= ends[p]:
                    del ends[p]
        return records
    finally:
        consumer.close()

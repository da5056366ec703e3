"""Consumer lag per assigned partition, from the client's own positions and cached watermarks.

Reported by the service itself rather than an exporter, so lag is visible wherever the metrics
are scraped; cached watermarks keep it free of broker round trips on the hot loop.
"""

import contextlib
from collections.abc import Iterable
from typing import Protocol

from confluent_kafka import KafkaException, TopicPartition
from prometheus_client import Gauge

INTERVAL_SECONDS = 2.0


class LagSource(Protocol):
    """The subset of confluent_kafka.Consumer lag reporting reads."""

    def assignment(self) -> list[TopicPartition]: ...
    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]: ...
    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float = ..., cached: bool = ...
    ) -> tuple[int, int]: ...


class LagReporter:
    """Sets `tagger_consumer_lag{topic, partition}` at most every `interval` seconds.

    :param consumer: the service's consumer (its assignment, positions and watermarks).
    :param gauge: the lag gauge, labelled by topic and partition.
    :param interval: seconds between two updates.
    """

    def __init__(self, consumer: LagSource, gauge: Gauge, interval: float = INTERVAL_SECONDS):
        self._consumer = consumer
        self._gauge = gauge
        self._interval = interval
        self._next_update = 0.0

    def maybe_update(self, now: float) -> None:
        if now >= self._next_update:
            self.update()
            self._next_update = now + self._interval

    def update(self) -> None:
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
            self._gauge.labels(tp.topic, str(tp.partition)).set(max(high - position, 0))

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """Partitions given up: their series go, rather than freeze at a stale value."""
        for p in partitions:
            with contextlib.suppress(KeyError):
                self._gauge.remove(p.topic, str(p.partition))

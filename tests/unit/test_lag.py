"""Consumer lag per partition from positions and cached high watermarks."""

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from prometheus_client import CollectorRegistry, Gauge

from consumer.lag import LagReporter


class Consumer:
    def __init__(self, positions, watermarks):
        self.positions = positions  # partition -> offset (negative: no position yet)
        self.watermarks = watermarks  # partition -> (low, high), or an exception
        self.position_calls = 0

    def assignment(self):
        return [TopicPartition("in", p) for p in self.positions]

    def position(self, partitions):
        self.position_calls += 1
        return [
            TopicPartition(tp.topic, tp.partition, self.positions[tp.partition])
            for tp in partitions
        ]

    def get_watermark_offsets(self, tp, timeout=None, cached=False):
        value = self.watermarks[tp.partition]
        if isinstance(value, Exception):
            raise value
        return value


def _gauge():
    registry = CollectorRegistry()
    return Gauge("lag", "", ["topic", "partition"], registry=registry), registry


def _lag(registry, partition):
    return registry.get_sample_value("lag", {"topic": "in", "partition": str(partition)})


def test_lag_is_the_high_watermark_minus_the_position():
    gauge, registry = _gauge()
    LagReporter(Consumer({0: 40, 1: 7}, {0: (0, 50), 1: (0, 7)}), gauge).update()
    assert _lag(registry, 0) == 10 and _lag(registry, 1) == 0


def test_a_partition_without_a_position_counts_from_its_low_watermark():
    gauge, registry = _gauge()
    LagReporter(Consumer({0: -1001}, {0: (5, 25)}), gauge).update()
    assert _lag(registry, 0) == 20


def test_unknown_watermarks_report_nothing_for_that_partition():
    gauge, registry = _gauge()
    error = KafkaException(KafkaError(KafkaError._STATE))
    LagReporter(Consumer({0: 1, 1: 1, 2: 1}, {0: (0, -1), 1: error, 2: (0, 3)}), gauge).update()
    assert _lag(registry, 0) is None and _lag(registry, 1) is None and _lag(registry, 2) == 2


def test_updates_are_spaced_by_the_interval():
    gauge, _ = _gauge()
    consumer = Consumer({0: 0}, {0: (0, 1)})
    reporter = LagReporter(consumer, gauge, interval=2.0)
    for now in (10.0, 11.0, 11.9, 12.0):
        reporter.maybe_update(now)
    assert consumer.position_calls == 2


def test_forgotten_partitions_lose_their_series():
    gauge, registry = _gauge()
    reporter = LagReporter(Consumer({0: 1, 1: 1}, {0: (0, 5), 1: (0, 5)}), gauge)
    reporter.update()
    reporter.forget([TopicPartition("in", 0), TopicPartition("in", 9)])
    assert _lag(registry, 0) is None and _lag(registry, 1) == 4

from confluent_kafka import KafkaError

from consumer.delivery import Batch, DeliveryTracker


class Msg:
    def topic(self):
        return "out"

    def key(self):
        return b"k"

    def value(self):
        return b"v"


def _batch(offsets, pending):
    return Batch(next_offsets=offsets, source_timestamps_ms=[0] * pending, pending=pending)


def test_offsets_released_only_after_every_output_is_delivered():
    tracker = DeliveryTracker()
    batch = _batch({("in", 0): 10}, pending=2)
    tracker.add(batch)
    batch.on_delivery(None, Msg())
    assert tracker.pop_completed() == ([], [])
    batch.on_delivery(None, Msg())
    done, offsets = tracker.pop_completed()
    assert done == [batch]
    assert [(o.topic, o.partition, o.offset) for o in offsets] == [("in", 0, 10)]


def test_later_batch_waits_for_earlier_one():
    tracker = DeliveryTracker()
    first, second = _batch({("in", 0): 5}, 1), _batch({("in", 0): 9}, 1)
    tracker.add(first)
    tracker.add(second)
    second.on_delivery(None, Msg())
    assert tracker.pop_completed() == ([], [])
    first.on_delivery(None, Msg())
    _, offsets = tracker.pop_completed()
    assert [(o.partition, o.offset) for o in offsets] == [(0, 9)]


def test_failed_delivery_blocks_release_and_is_reported_for_retry():
    tracker = DeliveryTracker()
    batch = _batch({("in", 1): 3}, 1)
    tracker.add(batch)
    batch.on_delivery(KafkaError(KafkaError._MSG_TIMED_OUT), Msg())
    assert tracker.pop_completed() == ([], [])
    assert tracker.failed() == [batch]

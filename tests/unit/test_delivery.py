import pytest
from confluent_kafka import KafkaError, KafkaException

from consumer.delivery import MAX_DELIVERY_ATTEMPTS, Batch, Deliveries, DeliveryTracker, FatalError
from consumer.metrics import Metrics
from tests.support.records import SentMessage


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


# -- Deliveries: producing, retrying and storing behind the tracker ----------------------------


class Out:
    def __init__(self, topic="out", key=b"k", value=b"v"):
        self.topic, self.key, self.value = topic, key, value


class Producer:
    """Holds produced outputs until `deliver`; `fail` errors to hand out first; `full` BufferErrors
    to raise from produce before accepting."""

    def __init__(self, fail=(), full=0):
        self.pending, self.delivered, self.fail, self.full = [], [], list(fail), full

    def produce(self, topic, value, key, partition, on_delivery):
        if self.full:
            self.full -= 1
            raise BufferError
        self.pending.append((SentMessage(topic, value, key), on_delivery))

    def deliver(self):
        pending, self.pending = self.pending, []
        for msg, callback in pending:
            error = self.fail.pop(0) if self.fail else None
            if error is None:
                self.delivered.append(msg)
            callback(error, msg)

    def poll(self, timeout=0):
        return 0

    def flush(self, timeout=0):
        self.deliver()
        return 0


def _deliveries(producer, max_attempts=MAX_DELIVERY_ATTEMPTS):
    stored = []
    deliveries = Deliveries(producer, stored.extend, Metrics(), max_attempts)
    return deliveries, stored


def test_a_batchs_offsets_are_stored_once_all_its_outputs_are_delivered():
    producer = Producer()
    deliveries, stored = _deliveries(producer)
    deliveries.send([Out(), Out()], {("in", 0): 7}, [0, 0])
    deliveries.service()
    assert stored == []
    producer.deliver()
    deliveries.service()
    assert [(o.topic, o.partition, o.offset) for o in stored] == [("in", 0, 7)]
    assert len(deliveries) == 0


def test_a_batch_without_outputs_completes_at_once():
    deliveries, stored = _deliveries(Producer())
    deliveries.send([], {("in", 2): 1}, [0])
    deliveries.service()
    assert [(o.partition, o.offset) for o in stored] == [(2, 1)]


def test_a_failed_output_is_produced_again_and_only_then_its_offset_stored():
    producer = Producer(fail=[KafkaError(KafkaError._MSG_TIMED_OUT)])
    deliveries, stored = _deliveries(producer)
    deliveries.send([Out(value=b"x")], {("in", 0): 1}, [0])
    producer.deliver()
    deliveries.service()
    assert stored == [] and [m.value() for m, _ in producer.pending] == [b"x"]
    producer.deliver()
    deliveries.service()
    assert [m.value() for m in producer.delivered] == [b"x"] and len(stored) == 1


def test_too_many_failed_attempts_stop_the_service_without_storing():
    producer = Producer(fail=[KafkaError(KafkaError._MSG_TIMED_OUT)] * 3)
    deliveries, stored = _deliveries(producer, max_attempts=2)
    deliveries.send([Out()], {("in", 0): 1}, [0])
    with pytest.raises(FatalError, match="undeliverable after 3 attempts"):
        for _ in range(3):
            producer.deliver()
            deliveries.service()
    assert stored == []


def test_a_fatal_delivery_error_stops_the_service_at_once():
    producer = Producer(fail=[KafkaError(KafkaError._FATAL, fatal=True)])
    deliveries, _ = _deliveries(producer)
    deliveries.send([Out()], {("in", 0): 1}, [0])
    producer.deliver()
    with pytest.raises(FatalError):
        deliveries.service()


def test_a_full_local_queue_waits_instead_of_dropping():
    producer = Producer(full=2)
    deliveries, _ = _deliveries(producer)
    deliveries.send([Out()], {("in", 0): 1}, [0])
    assert len(producer.pending) == 1


class FullOnce(Producer):
    """A client whose local queue is full once, at the `at`-th record produced."""

    def __init__(self, at):
        super().__init__()
        self.at, self.calls = at, 0

    def produce(self, topic, value, key, partition, on_delivery):
        self.calls += 1
        if self.calls == self.at:
            raise BufferError
        super().produce(topic, value, key, partition, on_delivery)


def test_a_full_local_queue_mid_batch_produces_every_output_once_in_order():
    producer = FullOnce(at=2)
    deliveries, stored = _deliveries(producer)
    deliveries.send([Out(value=b"a"), Out(value=b"b"), Out(value=b"c")], {("in", 0): 3}, [0])
    producer.deliver()
    deliveries.service()
    assert [m.value() for m in producer.delivered] == [b"a", b"b", b"c"]
    assert [(tp.topic, tp.partition, tp.offset) for tp in stored] == [("in", 0, 3)]


class Refusing(Producer):
    """A client that refuses every record (e.g. a topic it cannot write to)."""

    def produce(self, topic, value, key, partition, on_delivery):
        raise KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))


def test_a_record_the_client_refuses_stops_the_service_without_storing():
    deliveries, stored = _deliveries(Refusing())
    with pytest.raises(FatalError, match="cannot produce"):
        deliveries.send([Out()], {("in", 0): 1}, [0])
    deliveries.service()
    assert stored == []


def test_drain_waits_for_in_flight_outputs_and_stores_their_offsets():
    producer = Producer()
    deliveries, stored = _deliveries(producer)
    deliveries.send([Out()], {("in", 0): 4}, [0])
    assert deliveries.drain(1.0) is True
    assert [(o.partition, o.offset) for o in stored] == [(0, 4)]


def test_clear_forgets_unfinished_batches_so_their_offsets_are_never_stored():
    producer = Producer()
    deliveries, stored = _deliveries(producer)
    deliveries.send([Out()], {("in", 0): 4}, [0])
    assert deliveries.clear() == 1
    producer.deliver()
    deliveries.service()
    assert stored == [] and len(deliveries) == 0


def test_offsets_that_can_no_longer_be_stored_are_counted_not_raised():
    def refuse(offsets):
        raise KafkaException(KafkaError(KafkaError._STATE))

    metrics = Metrics()
    producer = Producer()
    deliveries = Deliveries(producer, refuse, metrics)
    deliveries.send([Out()], {("in", 0): 1}, [0])
    producer.deliver()
    deliveries.service()
    assert metrics.kafka_errors.labels("store_offsets")._value.get() == 1

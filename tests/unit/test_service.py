"""The consume loop driven step by step with in-memory Kafka and Redis stand-ins.

The real clients are exercised in tests/integration; these pin down offset and outage rules that
are hard to provoke against a real broker.
"""

import dataclasses
import json

import pytest
import redis
from confluent_kafka import KafkaError

from consumer.metrics import Metrics
from consumer.model_source import LoadedModel
from consumer.pipeline import Pipeline
from consumer.reload import Mailbox
from consumer.service import MAX_DELIVERY_ATTEMPTS, FatalError, Service
from schemas.topics import DEFAULT_TOPICS as T
from tests.support.records import FakeRecord, SentMessage


class Message(FakeRecord):
    """A record whose default value is a valid event unique to its partition and offset."""

    def __init__(self, offset: int, partition: int = 0, value: bytes | None = None):
        default = {
            "id": f"e{partition}-{offset}",
            "title": f"Object detection {partition} {offset}",
            "description": "boxes in images",
            "created_on": "2024-01-01T00:00:00",
        }
        super().__init__(value or json.dumps(default).encode(), offset, partition)


class FakeConsumer:
    def __init__(self):
        self.queue: list[Message] = []
        self.paused = False
        self.stored: dict[int, int] = {}
        self.commits = 0
        self.closed = False
        self.callbacks = {}

    def subscribe(self, topics, **callbacks):
        self.callbacks = callbacks

    def assignment(self):
        return ["p0"]

    def pause(self, parts):
        self.paused = True

    def resume(self, parts):
        self.paused = False

    def position(self, parts):
        return []

    def commit(self, asynchronous=True):
        self.commits += 1

    def close(self):
        self.closed = True

    def consume(self, n, timeout):
        if self.paused:
            return []
        batch, self.queue = self.queue[:n], self.queue[n:]
        return batch

    def poll(self, timeout):
        batch = self.consume(1, timeout)
        return batch[0] if batch else None

    def store_offsets(self, offsets):
        for tp in offsets:
            self.stored[tp.partition] = tp.offset


class FakeProducer:
    def __init__(self):
        self.pending: list = []
        self.delivered: list[SentMessage] = []
        self.auto_deliver = True
        self.fail_next = 0

    def produce(self, topic, value, key, partition, on_delivery):
        self.pending.append((SentMessage(topic, value, key), on_delivery))

    def deliver(self):
        pending, self.pending = self.pending, []
        for msg, callback in pending:
            if self.fail_next:
                self.fail_next -= 1
                callback(KafkaError(KafkaError._MSG_TIMED_OUT), msg)
            else:
                self.delivered.append(msg)
                callback(None, msg)

    def poll(self, timeout=0):
        if self.auto_deliver:
            self.deliver()
        return 0

    def flush(self, timeout=0):
        self.deliver()
        return 0


class SwitchableDedup:
    def __init__(self):
        self.down = False

    def check(self, fingerprints, ids, positions):
        if self.down:
            raise redis.ConnectionError("redis is down")
        return [None] * len(fingerprints)


@pytest.fixture
def parts(stub_artifact):
    consumer, producer, dedup = FakeConsumer(), FakeProducer(), SwitchableDedup()
    metrics = Metrics()
    pipeline = Pipeline(stub_artifact, dedup, T, metrics, 100_000)
    service = Service(
        consumer=consumer,
        producer=producer,
        pipeline=pipeline,
        metrics=metrics,
        input_topic=T.input,
        batch_size=10,
        poll_timeout=0.0,
        shutdown_timeout=1.0,
        backoff_initial=0.0,
        backoff_max=0.0,
    )
    return service, consumer, producer, dedup


def test_offsets_are_stored_only_after_outputs_are_delivered(parts):
    service, consumer, producer, _ = parts
    producer.auto_deliver = False
    consumer.queue = [Message(i) for i in range(5)]
    service.step()
    assert consumer.stored == {}
    producer.deliver()
    service.step()
    assert consumer.stored == {0: 5}


class ErrorEvent(Message):
    """What the client hands over in place of a record when consuming fails."""

    def __init__(self, code: int):
        super().__init__(0)
        self._error = KafkaError(code)

    def error(self):  # type: ignore[override]
        return self._error


def test_a_consume_error_is_counted_and_the_records_around_it_are_processed(parts):
    service, consumer, producer, _ = parts
    consumer.queue = [Message(0), ErrorEvent(KafkaError._TRANSPORT), Message(1)]
    service.step()
    producer.deliver()
    assert [json.loads(m.value())["id"] for m in producer.delivered] == ["e0-0", "e0-1"]
    errors = service._metrics.registry.get_sample_value(
        "tagger_kafka_errors_total", {"kind": "consume"}
    )
    assert errors == 1


def test_a_partition_end_is_skipped_without_counting_an_error(parts):
    service, consumer, producer, _ = parts
    consumer.queue = [Message(0), ErrorEvent(KafkaError._PARTITION_EOF)]
    service.step()
    producer.deliver()
    assert [json.loads(m.value())["id"] for m in producer.delivered] == ["e0-0"]
    errors = service._metrics.registry.get_sample_value(
        "tagger_kafka_errors_total", {"kind": "consume"}
    )
    assert not errors


def test_redis_outage_holds_the_batch_and_publishes_nothing(parts):
    service, consumer, producer, dedup = parts
    dedup.down = True
    consumer.queue = [Message(i) for i in range(5)]
    service.step()
    assert producer.delivered == [] and consumer.stored == {}
    assert consumer.paused and not service.redis_available


def test_held_batch_is_processed_in_full_when_redis_returns(parts):
    service, consumer, producer, dedup = parts
    dedup.down = True
    consumer.queue = [Message(i) for i in range(5)]
    service.step()
    service.step()  # still down: retried and held again
    dedup.down = False
    service.step()
    service.step()
    assert sorted(json.loads(m.value())["id"] for m in producer.delivered) == [
        f"e0-{i}" for i in range(5)
    ]
    assert consumer.stored == {0: 5}
    assert not consumer.paused and service.redis_available


def test_record_that_slips_in_during_an_outage_is_kept_not_skipped(parts):
    service, consumer, producer, dedup = parts
    dedup.down = True
    consumer.queue = [Message(0)]
    service.step()
    service.outage.next_try = float("inf")
    consumer.queue = [Message(1)]
    pause = consumer.pause
    consumer.pause = lambda parts: None  # fetched before the pause took effect
    consumer.paused = False
    service.step()
    consumer.pause = pause
    dedup.down = False
    service.outage.next_try = 0.0
    for _ in range(3):
        service.step()
    assert [json.loads(m.value())["id"] for m in producer.delivered] == ["e0-0", "e0-1"]
    assert consumer.stored == {0: 2}


def test_revoke_during_an_outage_drops_held_records_without_storing_them(parts):
    service, consumer, producer, dedup = parts
    service.subscribe()
    dedup.down = True
    consumer.queue = [Message(i) for i in range(3)]
    service.step()
    consumer.callbacks["on_revoke"](consumer, [])
    dedup.down = False
    service.step()
    assert producer.delivered == [] and consumer.stored == {}


def test_partitions_assigned_after_an_outage_are_resumed_not_left_paused(parts):
    # librdkafka keeps a revoked partition's pause: re-assigned later, it would never be fetched.
    service, consumer, _, dedup = parts
    service.subscribe()
    dedup.down = True
    consumer.queue = [Message(0)]
    service.step()
    consumer.callbacks["on_revoke"](consumer, [])
    dedup.down = False
    service.step()  # Redis back while nothing is assigned
    consumer.paused = True  # the pause the revoked partitions kept
    consumer.callbacks["on_assign"](consumer, [])
    consumer.queue = [Message(0)]
    service.step()
    service.step()
    assert not consumer.paused and consumer.stored == {0: 1}


def test_failed_delivery_is_produced_again_before_offsets_move(parts):
    service, consumer, producer, _ = parts
    producer.fail_next = 1
    consumer.queue = [Message(0)]
    service.step()
    assert consumer.stored == {}
    service.step()
    service.step()
    assert len(producer.delivered) == 1 and consumer.stored == {0: 1}


def test_persistent_delivery_failure_stops_the_service(parts):
    service, consumer, producer, _ = parts
    producer.fail_next = MAX_DELIVERY_ATTEMPTS + 1
    consumer.queue = [Message(0)]
    with pytest.raises(FatalError):
        for _ in range(MAX_DELIVERY_ATTEMPTS + 2):
            service.step()
    assert consumer.stored == {}


def test_stop_flushes_commits_and_closes(parts):
    service, consumer, producer, _ = parts
    producer.auto_deliver = False
    consumer.queue = [Message(i) for i in range(3)]
    service.step()
    service.stop()
    assert service.run() == 0
    assert consumer.stored == {0: 3} and consumer.commits >= 1 and consumer.closed


# -- hot reload: a model handed over serves from the next batch on ----------------------------
class ModelSwaps:
    """A service whose pipeline takes models from a mailbox between batches, as app.py wires it."""

    def __init__(self, artifact):
        self.consumer, self.producer, self.dedup = FakeConsumer(), FakeProducer(), SwitchableDedup()
        metrics = Metrics()
        self.pipeline = Pipeline(artifact, self.dedup, T, metrics, 100_000)
        self.mailbox: Mailbox[LoadedModel] = Mailbox()
        self.swapped: list[str] = []
        self.service = Service(
            consumer=self.consumer,
            producer=self.producer,
            pipeline=self.pipeline,
            metrics=metrics,
            input_topic=T.input,
            batch_size=10,
            poll_timeout=0.0,
            shutdown_timeout=1.0,
            backoff_initial=0.0,
            backoff_max=0.0,
            models=self.mailbox,
            on_model=self.swap,
        )

    def swap(self, model: LoadedModel) -> None:
        self.pipeline.use(model.artifact)
        self.swapped.append(model.version)

    def versions(self) -> list[str]:
        return [json.loads(m.value())["model_version"] for m in self.producer.delivered]


def versioned(artifact, version: str) -> LoadedModel:
    return LoadedModel(
        dataclasses.replace(artifact, meta=artifact.meta.model_copy(update={"version": version})),
        "models:/content-tagger@champion",
        version,
    )


def test_a_model_handed_over_serves_from_the_next_batch_on(stub_artifact):
    parts = ModelSwaps(stub_artifact)
    parts.consumer.queue = [Message(i) for i in range(20)]
    parts.service.step()
    parts.mailbox.put(versioned(stub_artifact, "v2"))
    parts.service.step()
    assert parts.versions() == ["stub-keywords"] * 10 + ["v2"] * 10
    assert parts.swapped == ["v2"]


def test_a_model_handed_over_during_a_batch_waits_for_the_batch_to_finish(stub_artifact):
    parts = ModelSwaps(stub_artifact)
    check = parts.dedup.check

    def check_and_hand_over(fingerprints, ids, positions):  # the watcher delivers mid-batch
        parts.mailbox.put(versioned(stub_artifact, "v2"))
        return check(fingerprints, ids, positions)

    parts.dedup.check = check_and_hand_over
    parts.consumer.queue = [Message(i) for i in range(10)]
    parts.service.step()
    parts.dedup.check = check
    parts.consumer.queue = [Message(i) for i in range(10, 20)]
    parts.service.step()
    assert parts.versions() == ["stub-keywords"] * 10 + ["v2"] * 10


def test_a_model_is_swapped_in_once(stub_artifact):
    parts = ModelSwaps(stub_artifact)
    parts.mailbox.put(versioned(stub_artifact, "v2"))
    for _ in range(3):
        parts.service.step()
    assert parts.swapped == ["v2"]
    assert parts.pipeline.version == "v2"

"""The service tells a replay from a re-send (real Kafka, real Redis, `python -m consumer`).

A replay is the same input record read again (after a crash before the offset commit, a
rebalance, an aborted transaction, or an operator rewinding the group): it is processed again.
A re-send is the same event published again upstream, a new record at a new offset: it is a
duplicate of itself.
"""

from functools import partial

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from chaos.reader import committed_offsets, end_offsets
from schemas.events import DuplicateEvent
from schemas.topics import Topics
from tests.support.harness import (
    produce,
    read_outputs,
    wait_for,
)
from tests.support.records import event

pytestmark = pytest.mark.integration


@pytest.fixture
def service_factory(start_service, model_dir, topics):
    return partial(start_service, model_dir=model_dir, topics=topics)


def rewind_to_start(bootstrap: str, group: str, topic: str, partitions: int) -> None:
    """What `kafka-consumer-groups --reset-offsets --to-earliest` does (the group is empty)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    request = ConsumerGroupTopicPartitions(
        group, [TopicPartition(topic, p, 0) for p in range(partitions)]
    )
    [future] = admin.alter_consumer_group_offsets([request]).values()
    future.result(timeout=30)


def classified_ids(out, topics: Topics) -> list[str]:
    return sorted(str(r["id"]) for r in out.json(topics.tagged) + out.json(topics.review))


def test_the_same_event_resent_as_a_new_record_is_a_duplicate_of_itself(
    services, topics, service_factory
):
    value = event("resent-1", "Object detection with YOLO", "bounding boxes in images")
    produce(services.bootstrap, topics.input, [value], keys=[b"k"])
    svc = service_factory().start()
    assert read_outputs(services.bootstrap, topics, expected=1).total() == 1
    produce(services.bootstrap, topics.input, [value], keys=[b"k"])  # same id, same content
    out = read_outputs(services.bootstrap, topics, expected=2)
    assert classified_ids(out, topics) == ["resent-1"]
    [duplicate] = [DuplicateEvent.model_validate(r) for r in out.json(topics.duplicate)]
    assert (str(duplicate.id), str(duplicate.duplicate_of)) == ("resent-1", "resent-1")
    assert svc.terminate() == 0


def test_records_read_again_after_a_rewind_are_processed_again_not_duplicates(
    services, topics, service_factory
):
    values = [event(f"r-{i}", f"replayed title {i}", "computer vision images") for i in range(60)]
    produce(services.bootstrap, topics.input, values)
    first = service_factory().start()
    assert read_outputs(services.bootstrap, topics, expected=60).total() == 60
    assert first.terminate() == 0
    ends = end_offsets(services.bootstrap, topics.input)
    assert committed_offsets(services.bootstrap, first.group, topics.input) == ends

    rewind_to_start(services.bootstrap, first.group, topics.input, partitions=len(ends))
    again = service_factory(group=first.group).start()  # same group, same dedup store
    out = read_outputs(services.bootstrap, topics, expected=120)
    assert classified_ids(out, topics) == sorted([f"r-{i}" for i in range(60)] * 2)
    assert out.by_topic[topics.duplicate] == []
    assert wait_for(
        lambda: committed_offsets(services.bootstrap, again.group, topics.input) == ends, timeout=30
    )
    assert again.terminate() == 0

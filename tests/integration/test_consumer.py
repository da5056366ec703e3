"""The service end to end against a real Kafka broker and a real Redis (started by fixtures)."""

import base64
import threading
from functools import partial
from pathlib import Path

import pytest

from chaos.reader import committed_offsets, end_offsets
from schemas.events import ClassifiedEvent, DeadLetterEvent, DuplicateEvent
from schemas.tags import APPROVED_TAGS
from tests.support.harness import (
    produce,
    read_outputs,
    wait_for,
)
from tests.support.records import event
from training.data import load

pytestmark = pytest.mark.integration


@pytest.fixture
def service_factory(start_service, model_dir, topics):
    return partial(start_service, model_dir=model_dir, topics=topics)


def _dataset_events(dataset_path: str, prefix: str) -> list[bytes]:
    return [event(f"{prefix}-{e.id}", e.title, e.description) for e in load(dataset_path).examples]


def _ids(outputs, topic) -> list[str]:
    return [str(r["id"]) for r in outputs.json(topic)]


def test_every_event_lands_in_exactly_one_output_topic(
    services, topics, service_factory, dataset_path
):
    values = [*_dataset_events(dataset_path, "ds"), b"garbage-1", b"{}", b"\xff"]
    produce(services.bootstrap, topics.input, values)
    svc = service_factory().start()
    out = read_outputs(services.bootstrap, topics, expected=len(values))
    assert out.total() == len(values)
    classified = out.json(topics.tagged) + out.json(topics.review)
    ids = [str(r["id"]) for r in classified] + _ids(out, topics.duplicate)
    assert len(ids) == len(set(ids)) == len(values) - 3
    assert len(out.by_topic[topics.dead_letter]) == 3
    assert {r["tag"] for r in classified} <= set(APPROVED_TAGS)
    for record in out.json(topics.tagged):
        ClassifiedEvent.model_validate(record)
        assert record["confidence"] >= record["threshold"]
    for record in out.json(topics.review):
        assert record["confidence"] < record["threshold"]
    assert svc.terminate() == 0


def test_outputs_are_keyed_by_event_id(services, topics, service_factory):
    produce(services.bootstrap, topics.input, [event("key-1", "Image segmentation with U-Net")])
    service_factory().start()
    out = read_outputs(services.bootstrap, topics, expected=1)
    [(key, _)] = out.by_topic[topics.tagged] + out.by_topic[topics.review]
    assert key == b"key-1"


def test_duplicates_differing_in_case_spacing_punctuation_go_to_duplicates(
    services, topics, service_factory
):
    original = event("orig", "Attention Is All You Need", "The Transformer architecture.")
    variants = [
        event("dup-case", "ATTENTION IS ALL YOU NEED", "the transformer architecture"),
        event("dup-space", "Attention   is all  you need", "The   Transformer architecture."),
        event("dup-punct", "Attention: is all you need!", "The Transformer -- architecture"),
        event("orig", "Attention Is All You Need", "The Transformer architecture."),
    ]
    # One key, one partition: the original is consumed first.
    produce(services.bootstrap, topics.input, [original, *variants], keys=[b"same"] * 5)
    service_factory().start()
    out = read_outputs(services.bootstrap, topics, expected=5)
    dups = [DuplicateEvent.model_validate(r) for r in out.json(topics.duplicate)]
    # "orig" sent again is a new record: a re-send, a duplicate of itself (tests/integration/
    # test_resend.py); a replay of the same record would be processed again.
    assert sorted(str(d.id) for d in dups) == ["dup-case", "dup-punct", "dup-space", "orig"]
    assert {str(d.duplicate_of) for d in dups} == {"orig"}
    classified_ids = _ids(out, topics.tagged) + _ids(out, topics.review)
    assert classified_ids == ["orig"]


def test_garbage_payloads_land_in_dead_letter_with_raw_bytes_intact(
    services, topics, service_factory
):
    garbage = [
        b"not json at all",
        b"\xff\xfe\x00binary",
        b'{"id": 1, "title": 42}',
        b'{"id": 2, "description": "no title", "created_on": "2024-01-01"}',
        b"[]",
        b'{"id": 3, "title": "' + b"x" * 5000 + b'", "description": "",'
        b' "created_on": "2024-01-01"}',
    ]
    produce(services.bootstrap, topics.input, garbage, keys=[b"k%d" % i for i in range(6)])
    svc = service_factory().start()
    out = read_outputs(services.bootstrap, topics, expected=len(garbage))
    letters = [DeadLetterEvent.model_validate(r) for r in out.json(topics.dead_letter)]
    assert sorted(base64.b64decode(d.raw_value_base64) for d in letters) == sorted(garbage)
    assert {d.error.code for d in letters} == {"invalid_json", "invalid_utf8", "schema_validation"}
    assert all(d.source_topic == topics.input and d.source_offset >= 0 for d in letters)
    assert out.total() == len(garbage)
    assert svc.health()["status"] == "ok"


def test_sigkill_mid_stream_loses_nothing_and_redeliveries_are_not_duplicates(
    services, topics, service_factory, dataset_path
):
    examples = load(dataset_path).examples
    values = [
        event(f"k-{i}", f"{e.title} part {i}", e.description) for i, e in enumerate(examples * 4)
    ]
    producer = threading.Thread(
        target=produce, args=(services.bootstrap, topics.input, values), kwargs={"rate": 1500}
    )
    svc = service_factory()
    svc.start()
    producer.start()
    assert wait_for(lambda: svc.metric("tagger_events_total") >= 500, timeout=30)
    svc.kill()
    producer.join()
    restarted = service_factory(group=svc.group).start()
    out = read_outputs(services.bootstrap, topics, expected=len(values), timeout=90, settle=3)
    classified = _ids(out, topics.tagged) + _ids(out, topics.review)
    assert set(classified) == {f"k-{i}" for i in range(len(values))}
    assert out.by_topic[topics.duplicate] == []
    assert out.by_topic[topics.dead_letter] == []
    assert restarted.terminate() == 0


def test_redis_outage_pauses_without_publishing_then_resumes(services, topics, service_factory):
    first = [event(f"a-{i}", f"first batch item {i}", "computer vision images") for i in range(50)]
    produce(services.bootstrap, topics.input, first)
    svc = service_factory().start()
    assert read_outputs(services.bootstrap, topics, expected=50).total() == 50

    services.down("redis")
    try:
        during = [event(f"b-{i}", f"during outage {i}", "nlp text") for i in range(50)]
        during.append(event("b-dup", "FIRST batch item 0!", "computer vision images"))
        produce(services.bootstrap, topics.input, during)
        assert wait_for(lambda: svc.metric("tagger_paused") == 1, timeout=30)
        stalled = read_outputs(services.bootstrap, topics, expected=10**9, timeout=3)
        assert stalled.total() == 50  # nothing published without its dedup check
        assert svc.health()["redis_available"] is False
    finally:
        services.up("redis")

    out = read_outputs(services.bootstrap, topics, expected=101, timeout=60)
    assert out.total() == 101
    assert svc.metric("tagger_paused") == 0
    assert svc.metric("tagger_redis_errors_total") >= 1
    assert svc.terminate() == 0


def test_sigterm_exits_zero_with_offsets_committed(services, topics, service_factory):
    values = [event(f"s-{i}", f"title number {i}", "mlops deployment") for i in range(300)]
    produce(services.bootstrap, topics.input, values)
    svc = service_factory().start()
    read_outputs(services.bootstrap, topics, expected=300)
    assert svc.terminate(timeout=15) == 0
    assert committed_offsets(services.bootstrap, svc.group, topics.input) == end_offsets(
        services.bootstrap, topics.input
    )


def test_unloadable_model_exits_with_clear_error(services, topics, service_factory, tmp_path: Path):
    svc = service_factory(extra_env={"MODEL_DIR": str(tmp_path / "nowhere")})
    with pytest.raises(RuntimeError, match="not a model artifact"):
        svc.start()


def test_workers_split_the_partitions_of_one_consumer_group(services, topics, service_factory):
    svc = service_factory(extra_env={"WORKERS": "2"}).start()
    second = svc.metrics_port + 1

    def assigned() -> list[int]:
        ports = (svc.metrics_port, second)
        healths = [svc.health_at(port) for port in ports]
        return [h["assigned_partitions"] if h else 0 for h in healths]

    assert wait_for(lambda: sorted(assigned()) == [1, 2], timeout=60), assigned()
    values = [event(f"w-{i}", f"worker item {i}", "images and video") for i in range(300)]
    produce(services.bootstrap, topics.input, values)
    out = read_outputs(services.bootstrap, topics, expected=300)
    assert out.total() == 300
    assert svc.terminate() == 0

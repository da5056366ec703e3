"""PROCESSING_GUARANTEE=exactly-once against a real broker and Redis: what a read_committed reader
of the output topics sees across a crash, an aborted transaction and a fenced instance."""

import threading
from collections import Counter

import pytest
from confluent_kafka import Consumer, Producer

from chaos.reader import committed_offsets, end_offsets
from consumer.config import Settings
from consumer.dedup import Deduplicator
from consumer.kafka import consumer_config, producer_config
from consumer.metrics import Metrics
from consumer.pipeline import Pipeline
from consumer.redis_client import connect
from consumer.service import Service
from schemas.topics import TOPIC_ROLES, Topics
from tests.support.harness import (
    Outputs,
    produce,
    read_outputs,
    wait_for,
)
from tests.support.records import event

pytestmark = pytest.mark.integration

EOS = {"PROCESSING_GUARANTEE": "exactly-once"}


@pytest.fixture
def service_factory(start_service, model_dir, topics):
    def make(instance_id: str, group: str | None = None):
        extra_env = {**EOS, "INSTANCE_ID": instance_id}
        return start_service(model_dir=model_dir, topics=topics, group=group, extra_env=extra_env)

    return make


def _events(prefix: str, n: int) -> list[bytes]:
    return [event(f"{prefix}-{i}", f"{prefix} distinct title {i}", "vision nlp") for i in range(n)]


def _classified(out: Outputs, topics: Topics) -> Counter[str]:
    return Counter(str(r["id"]) for t in (topics.tagged, topics.review) for r in out.json(t))


def test_a_read_committed_reader_sees_every_event_once_across_a_sigkill(
    services, topics, service_factory
):
    values = _events("k", 3000)
    producer = threading.Thread(
        target=produce, args=(services.bootstrap, topics.input, values), kwargs={"rate": 1500}
    )
    svc = service_factory("kill-me").start()
    producer.start()
    assert wait_for(lambda: svc.metric("tagger_transactions_total") >= 5, timeout=30)
    svc.kill()
    producer.join()
    restarted = service_factory("kill-me", group=svc.group).start()
    out = read_outputs(services.bootstrap, topics, expected=len(values), timeout=90, settle=3)
    assert _classified(out, topics) == Counter({f"k-{i}": 1 for i in range(len(values))})
    assert out.by_topic[topics.duplicate] == []
    assert out.by_topic[topics.dead_letter] == []
    assert restarted.terminate() == 0
    assert committed_offsets(services.bootstrap, svc.group, topics.input) == end_offsets(
        services.bootstrap, topics.input
    )


def _in_process_service(
    services, topics: Topics, model_artifact, group: str
) -> tuple[Service, Consumer, Metrics]:
    """The service's own loop on real clients, driven step by step by the test."""
    settings = Settings(
        kafka_bootstrap_servers=services.bootstrap,
        consumer_group_id=group,
        processing_guarantee="exactly-once",
        instance_id="in-process",
        **{f"topic_{role}": getattr(topics, role) for role in TOPIC_ROLES},
    )
    metrics = Metrics()
    consumer = Consumer(consumer_config(settings))
    dedup = Deduplicator(connect(services.redis_url, "standalone", 2.0), f"dedup:{group}", 3600)
    service = Service(
        consumer=consumer,
        producer=Producer(producer_config(settings)),
        pipeline=Pipeline(model_artifact, dedup, topics, metrics, settings.max_message_bytes),
        metrics=metrics,
        input_topic=topics.input,
        batch_size=50,
        poll_timeout=0.1,
        shutdown_timeout=5.0,
        backoff_initial=0.1,
        backoff_max=0.5,
        guarantee="exactly-once",
        commit_interval=3600.0,  # committed only when caught up: a full batch stays open
    )
    return service, consumer, metrics


def test_an_aborted_transaction_is_invisible_to_read_committed_and_its_events_are_reprocessed(
    services, topics, model_artifact
):
    values = _events("a", 600)
    produce(services.bootstrap, topics.input, values)
    group = "abort-test"
    service, consumer, metrics = _in_process_service(services, topics, model_artifact, group)
    assert service.transactions is not None
    service.transactions.init()
    service.subscribe()
    try:
        for _ in range(200):  # until a step leaves a full batch's transaction open
            service.step()
            if len(service.transactions):
                break
        assert len(service.transactions) == 1
        service.transactions.abort(rewind=True)
        ends = end_offsets(services.bootstrap, topics.input)
        assert wait_for(
            lambda: (
                service.step() or committed_offsets(services.bootstrap, group, topics.input) == ends
            ),
            timeout=60,
            interval=0,
        )
    finally:
        consumer.close()
    visible = read_outputs(services.bootstrap, topics, expected=len(values), settle=2)
    written = read_outputs(
        services.bootstrap, topics, expected=len(values) + 50, isolation="read_uncommitted"
    )
    assert _classified(visible, topics) == Counter({f"a-{i}": 1 for i in range(len(values))})
    assert visible.by_topic[topics.duplicate] == []
    assert written.total() == len(values) + 50  # the aborted batch's outputs, still in the log
    aborted = {"result": "aborted"}
    assert metrics.registry.get_sample_value("tagger_transactions_total", aborted) == 1


def test_a_second_instance_with_the_same_instance_id_fences_the_first(
    services, topics, service_factory
):
    values = _events("f", 4000)
    producer = threading.Thread(
        target=produce, args=(services.bootstrap, topics.input, values), kwargs={"rate": 1000}
    )
    first = service_factory("twin").start()
    producer.start()
    assert wait_for(lambda: first.metric("tagger_transactions_total") >= 5, timeout=30)
    second = service_factory("twin", group=first.group).start(wait_assigned=False)
    assert first.proc is not None
    assert first.proc.wait(60) == 1
    assert '"reason": "fenced"' in first.logs()
    producer.join()
    out = read_outputs(services.bootstrap, topics, expected=len(values), timeout=90, settle=3)
    assert _classified(out, topics) == Counter({f"f-{i}": 1 for i in range(len(values))})
    assert second.terminate() == 0


def test_workers_of_one_instance_each_get_their_own_transactional_id(
    services, topics, service_factory
):
    svc = service_factory("pair")
    svc.env["WORKERS"] = "2"
    svc.start()
    ports = (svc.metrics_port, svc.metrics_port + 1)

    def assigned() -> list[int]:
        return [(svc.health_at(port) or {}).get("assigned_partitions", 0) for port in ports]

    assert wait_for(lambda: sorted(assigned()) == [1, 2], timeout=60), assigned()
    values = _events("w", 600)
    produce(services.bootstrap, topics.input, values)
    out = read_outputs(services.bootstrap, topics, expected=len(values), settle=2)
    assert _classified(out, topics) == Counter({f"w-{i}": 1 for i in range(len(values))})
    assert svc.terminate() == 0  # neither worker was fenced by the other

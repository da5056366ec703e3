"""The `services` fixture gives a working Kafka broker and Redis (real servers, no mocks)."""

from __future__ import annotations

import time

import pytest
import redis
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, ConfigResource

from tests.support.servers import LocalServices


def test_kafka_topic_produce_consume(services: LocalServices, new_topic) -> None:
    admin = AdminClient({"bootstrap.servers": services.bootstrap})
    topic = new_topic(partitions=2, prefix="svc")
    assert len(admin.list_topics(topic, timeout=10).topics[topic].partitions) == 2

    producer = Producer({"bootstrap.servers": services.bootstrap})
    producer.produce(topic, b"hello", key=b"k1")
    assert producer.flush(30) == 0

    consumer = Consumer(
        {
            "bootstrap.servers": services.bootstrap,
            "group.id": f"g-{topic}",
            "auto.offset.reset": "earliest",
        }
    )
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 60
        msg = None
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                break
        assert msg is not None and msg.error() is None, msg and msg.error()
        assert (msg.key(), msg.value()) == (b"k1", b"hello")
    finally:
        consumer.close()


def test_broker_config_is_for_tests(services: LocalServices) -> None:
    admin = AdminClient({"bootstrap.servers": services.bootstrap})
    resource = ConfigResource(ConfigResource.Type.BROKER, "1")
    configs = admin.describe_configs([resource])[resource].result(timeout=30)
    assert configs["auto.create.topics.enable"].value == "false"
    assert configs["num.partitions"].value == "4"
    assert configs["offsets.topic.replication.factor"].value == "1"
    assert configs["group.initial.rebalance.delay.ms"].value == "0"


def test_new_topic_fixture(services: LocalServices, new_topic) -> None:
    name = new_topic(partitions=3)
    admin = AdminClient({"bootstrap.servers": services.bootstrap})
    assert len(admin.list_topics(name, timeout=10).topics[name].partitions) == 3


def test_redis_set_get(services: LocalServices) -> None:
    client = redis.Redis.from_url(services.redis_url)
    client.set("svc-test", "value", ex=60)
    assert client.get("svc-test") == b"value"
    client.close()


def test_redis_stops_and_restarts_independently(services: LocalServices, redis_up) -> None:
    client = redis.Redis.from_url(services.redis_url, socket_connect_timeout=2)
    assert client.ping()

    services.down("redis")
    services.down("redis")  # idempotent
    assert not services.is_up("redis")
    with pytest.raises(redis.exceptions.ConnectionError):
        client.ping()
    assert services.is_up("kafka")  # Kafka is untouched

    services.up("redis")
    services.up("redis")  # idempotent
    assert services.is_up("all")
    assert client.ping()
    client.close()

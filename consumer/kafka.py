"""Kafka client configuration: at-least-once consumer, idempotent producer."""

from typing import Any

from consumer.config import Settings, kafka_overrides


def common_config(bootstrap: str) -> dict[str, Any]:
    """Every client's base: the brokers, then the KAFKA_* overrides from the environment."""
    return {"bootstrap.servers": bootstrap, **kafka_overrides()}


def consumer_config(settings: Settings, **callbacks: Any) -> dict[str, Any]:
    return {
        **common_config(settings.kafka_bootstrap_servers),
        "group.id": settings.consumer_group_id,
        # Offsets are stored by us only after outputs are delivered; auto-commit then commits
        # exactly those stored offsets in the background.
        "enable.auto.commit": True,
        "enable.auto.offset.store": False,
        "auto.commit.interval.ms": 1000,
        "auto.offset.reset": "earliest",
        # Eager protocol: a rebalance revokes everything, so revoke = flush + commit + forget.
        "partition.assignment.strategy": "roundrobin",
        "session.timeout.ms": 15000,
        "fetch.wait.max.ms": 20,
        "fetch.min.bytes": 1,
        **callbacks,
    }


def producer_config(settings: Settings, **callbacks: Any) -> dict[str, Any]:
    return {
        **common_config(settings.kafka_bootstrap_servers),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": settings.producer_linger_ms,
        "compression.type": "lz4",
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": 500000,
        **callbacks,
    }

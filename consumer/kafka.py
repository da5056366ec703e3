"""Kafka client configuration for either guarantee (PROCESSING_GUARANTEE).

Each config is built in three layers: tunable defaults, then the KAFKA_* overrides from the
environment (so KAFKA_CONFIG_SESSION_TIMEOUT_MS=30000 wins over the default), then the keys the
guarantee depends on (offset handling, idempotence, the transactional id), which no override may
change.
"""

from typing import Any

from consumer.config import Settings, kafka_overrides

# transaction.timeout.ms for the exactly-once producer. The coordinator aborts a transaction left
# open longer than this, and until it does, read_committed readers of the output partitions wait
# behind it (the last stable offset cannot pass an open transaction). A transaction normally
# stays open for COMMIT_INTERVAL_MS (100 ms) plus one batch, and a commit that cannot finish
# within this time makes the instance exit (consumer/transactions.py), so the timeout is the
# longest a crashed instance that never comes back (a restarted one aborts its own leftover at
# once, by its stable transactional.id) can hold readers up. 10 s rides through a broker failover
# and a GC-sized pause, and is far below the 60 s default; the broker's
# transaction.max.timeout.ms (15 min by default) must allow it. Override with
# KAFKA_CONFIG_TRANSACTION_TIMEOUT_MS.
TRANSACTION_TIMEOUT_MS = 10_000


FETCH_WAIT_MAX_MS = 20
FETCH_QUEUE_BACKOFF_MS = FETCH_WAIT_MAX_MS  # as long as the broker may hold a fetch


def common_config(bootstrap: str) -> dict[str, Any]:
    """Every client's base: the brokers, then the KAFKA_* overrides from the environment."""
    return {"bootstrap.servers": bootstrap, **kafka_overrides()}


def consumer_config(settings: Settings, **callbacks: Any) -> dict[str, Any]:
    defaults = {
        "auto.offset.reset": "earliest",
        # Eager protocol: a rebalance revokes everything, so revoke = flush + commit + forget.
        "partition.assignment.strategy": "roundrobin",
        "session.timeout.ms": 15000,
        "fetch.wait.max.ms": FETCH_WAIT_MAX_MS,
        "fetch.min.bytes": 1,
        # Once the local queue holds queued.min.messages (100k) librdkafka postpones the next
        # fetch by this much. Its default, a second, leaves a consumer that drains the queue
        # sooner waiting on an empty queue: the bench's passthrough sat idle for most of each
        # second (docs/performance.md). A postponed fetch is a timer, not a request.
        "fetch.queue.backoff.ms": FETCH_QUEUE_BACKOFF_MS,
        "auto.commit.interval.ms": 1000,
    }
    if settings.processing_guarantee == "exactly-once":
        # Offsets are committed only inside the producer's transactions; input written by a
        # transactional producer is read only once committed.
        guarantee = {
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
        }
    else:
        # Offsets are stored by us only after outputs are delivered; auto-commit then commits
        # exactly those stored offsets in the background.
        guarantee = {"enable.auto.commit": True, "enable.auto.offset.store": False}
    return {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        **defaults,
        **kafka_overrides(),
        "group.id": settings.consumer_group_id,
        **guarantee,
        **callbacks,
    }


def producer_config(settings: Settings, **callbacks: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "linger.ms": settings.producer_linger_ms,
        "compression.type": "lz4",
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": 500000,
    }
    guarantee: dict[str, Any] = {"enable.idempotence": True, "acks": "all"}
    if settings.processing_guarantee == "exactly-once":
        defaults["transaction.timeout.ms"] = TRANSACTION_TIMEOUT_MS
        # A transaction begun right after a commit often finds the coordinator still writing the
        # last one's markers (CONCURRENT_TRANSACTIONS): retried after the default 100 ms, that
        # wait was most of exactly-once's latency. The client backs off exponentially from here.
        defaults["retry.backoff.ms"] = 10
        guarantee["transactional.id"] = settings.transactional_id
    return {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        **defaults,
        **kafka_overrides(),
        **guarantee,
        **callbacks,
    }

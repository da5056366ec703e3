"""How the dedup store shards fingerprints over keys (and so over a Redis Cluster's slots)."""

from collections import Counter

import pytest
import redis
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from consumer.dedup import Deduplicator, group_by_shard, shard_of
from inference.text import fingerprint

# Real fingerprints of distinct texts, as the service makes them.
FINGERPRINTS = [fingerprint(f"title {i}", f"description number {i}") for i in range(20_000)]


@pytest.fixture
def dedup() -> Deduplicator:
    # A client that is never connected: registering a script only hashes it.
    return Deduplicator(redis.Redis(host="localhost", port=1), "dedup", 3600, shard_digits=2)


def test_shard_is_the_fingerprints_first_two_hex_digits():
    fp = FINGERPRINTS[0]
    assert shard_of(fp) == fp[:2]
    assert int(shard_of(fp), 16) in range(256)


def test_shard_of_a_fingerprint_is_stable():
    assert [shard_of(fp) for fp in FINGERPRINTS[:100]] == [
        shard_of(fp) for fp in FINGERPRINTS[:100]
    ]


def test_fingerprints_fill_every_shard_evenly():
    counts = Counter(shard_of(fp) for fp in FINGERPRINTS)
    mean = len(FINGERPRINTS) / 256
    assert len(counts) == 256
    assert mean / 2 < min(counts.values()) and max(counts.values()) < mean * 2


def test_grouping_keeps_every_position_once_and_each_group_in_input_order():
    batch = FINGERPRINTS[:1000] + FINGERPRINTS[:10]  # redeliveries at the end
    groups = group_by_shard(batch)
    positions = [p for group in groups.values() for p in group]
    assert sorted(positions) == list(range(len(batch)))
    for shard, group in groups.items():
        assert group == sorted(group)
        assert all(shard_of(batch[p]) == shard for p in group)


def test_same_fingerprint_twice_in_a_batch_lands_in_one_group_in_arrival_order():
    fp = FINGERPRINTS[7]
    groups = group_by_shard([fp, FINGERPRINTS[8], fp])
    assert [0, 2] in groups.values()


def test_a_shards_two_buckets_share_one_cluster_slot(dedup):
    for shard in dedup.shards:
        current, previous = dedup.shard_keys(shard, bucket=100)
        assert key_slot(current.encode()) == key_slot(previous.encode())


def test_shards_spread_over_the_slot_ranges_of_three_primaries(dedup):
    third = REDIS_CLUSTER_HASH_SLOTS // 3 + 1
    slots = [key_slot(dedup.shard_keys(shard, 100)[0].encode()) for shard in dedup.shards]
    per_primary = Counter(slot // third for slot in slots)
    assert len(set(slots)) > 240
    assert sorted(per_primary) == [0, 1, 2]
    assert min(per_primary.values()) > 256 / 3 / 2


def test_keys_are_every_shards_current_and_previous_bucket(dedup):
    keys = dedup.keys(bucket=100)
    assert len(keys) == 2 * 256
    assert "{dedup:00}:100" in keys and "{dedup:ff}:99" in keys


def test_on_a_single_redis_the_default_keeps_one_hash_per_bucket_as_before_sharding():
    single = Deduplicator(redis.Redis(host="localhost", port=1), "dedup", 3600)
    assert single.shard_digits == 0
    assert single.keys(bucket=100) == ["{dedup}:100", "{dedup}:99"]
    assert list(group_by_shard(FINGERPRINTS[:5], digits=0).values()) == [[0, 1, 2, 3, 4]]

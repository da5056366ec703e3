"""The dedup Lua script against a real Redis."""

import time
import uuid

import pytest
import redis

from consumer.dedup import Deduplicator, shard_of

DAY = 86_400


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def client(services):
    c = redis.Redis.from_url(services.redis_url)
    yield c
    c.close()


@pytest.fixture
def clock():
    # Bucket expiry is absolute (EXPIREAT), so the fake clock starts at today's real bucket.
    return Clock(int(time.time()) // DAY * DAY + 10)


@pytest.fixture(params=[None, 2], ids=["single-hash", "sharded"])
def dedup(client, clock, request):
    """Both layouts on a single Redis: the default (one hash per bucket) and 256 shards."""
    return Deduplicator(
        client, f"test:{uuid.uuid4().hex}", DAY, clock=clock, shard_digits=request.param
    )


def test_new_fingerprints_are_processed(dedup):
    assert dedup.check(["a", "b"], ["1", "2"]) == [None, None]


def test_same_fingerprint_under_another_id_is_a_duplicate_of_the_first(dedup):
    dedup.check(["a"], ["1"])
    assert dedup.check(["a"], ["2"]) == ["1"]


def test_same_id_again_is_a_redelivery_not_a_duplicate(dedup):
    dedup.check(["a"], ["1"])
    assert dedup.check(["a"], ["1"]) == [None]


def test_duplicates_within_one_batch_are_caught(dedup):
    assert dedup.check(["a", "a", "a"], ["1", "2", "1"]) == [None, "1", None]


def test_fingerprint_from_the_previous_bucket_is_still_remembered(dedup, clock):
    dedup.check(["a"], ["1"])
    clock.now += DAY
    assert dedup.check(["a"], ["2"]) == ["1"]


def test_fingerprint_is_forgotten_after_two_buckets(dedup, clock):
    dedup.check(["a"], ["1"])
    clock.now += 2 * DAY
    assert dedup.check(["a"], ["2"]) == [None]


def test_each_bucket_expires_when_its_successor_stops_reading_it(dedup, client, clock):
    dedup.check(["a"], ["1"])
    current, _ = dedup.shard_keys(shard_of("a", dedup.shard_digits))
    bucket = int(clock.now // DAY)
    assert client.expiretime(current) == (bucket + 2) * DAY + 60


def test_fingerprints_are_stored_in_their_shards_hash(dedup, client):
    """(In the single-hash layout every fingerprint's shard is that one hash.)"""
    fps = [f"{i:02x}{'0' * 30}" for i in range(256)]
    dedup.check(fps, [str(i) for i in range(256)])
    for i, fp in enumerate(fps):
        current, _ = dedup.shard_keys(shard_of(fp, dedup.shard_digits))
        assert client.hget(current, fp) == str(i).encode()


def test_verdicts_come_back_in_input_order_across_shards(dedup):
    fps = [f"{i:02x}{'0' * 30}" for i in range(256)]
    dedup.check(fps, [f"first-{i}" for i in range(256)])
    shuffled = fps[::-1]
    assert dedup.check(shuffled, [f"again-{i}" for i in range(256)]) == [
        f"first-{255 - i}" for i in range(256)
    ]


def test_one_round_trip_per_batch(dedup, client):
    before = client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
    dedup.check([f"fp{i}" for i in range(500)], [str(i) for i in range(500)])
    after = client.info("commandstats")["cmdstat_evalsha"]["calls"]
    assert after - before == 1

"""The dedup Lua script against a real Redis."""

import time
import uuid

import pytest
import redis

from consumer.dedup import Deduplicator

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


@pytest.fixture
def dedup(client, clock):
    return Deduplicator(client, f"test:{uuid.uuid4().hex}", retention_seconds=DAY, clock=clock)


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
    current, _ = dedup.keys()
    bucket = int(clock.now // DAY)
    assert client.expiretime(current) == (bucket + 2) * DAY + 60


def test_both_buckets_share_one_cluster_slot(dedup):
    from redis.crc import key_slot

    current, previous = dedup.keys()
    assert key_slot(current.encode()) == key_slot(previous.encode())


def test_one_round_trip_per_batch(dedup, client):
    before = client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
    dedup.check([f"fp{i}" for i in range(500)], [str(i) for i in range(500)])
    after = client.info("commandstats")["cmdstat_evalsha"]["calls"]
    assert after - before == 1

"""The dedup Lua script against a real Redis."""

import time
import uuid

import pytest
import redis

from consumer.dedup import Deduplicator, claim, shard_of

DAY = 86_400


def at(*offsets: int, partition: int = 0) -> list[str]:
    """Input positions as the pipeline names them."""
    return [f"content.raw:{partition}:{o}" for o in offsets]


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
    assert dedup.check(["a", "b"], ["1", "2"], at(0, 1)) == [None, None]


def test_same_fingerprint_under_another_id_is_a_duplicate_of_the_first(dedup):
    dedup.check(["a"], ["1"], at(0))
    assert dedup.check(["a"], ["2"], at(1)) == ["1"]


def test_same_record_read_again_is_a_replay_and_processed(dedup):
    dedup.check(["a"], ["1"], at(0))
    assert dedup.check(["a"], ["1"], at(0)) == [None]


def test_same_id_at_a_new_offset_is_a_resend_and_a_duplicate_of_itself(dedup):
    dedup.check(["a"], ["1"], at(0))
    assert dedup.check(["a"], ["1"], at(5)) == ["1"]


def test_same_id_and_offset_on_another_partition_is_a_resend(dedup):
    dedup.check(["a"], ["1"], at(0, partition=0))
    assert dedup.check(["a"], ["1"], at(0, partition=1)) == ["1"]


def test_a_resend_does_not_move_the_claim_so_the_original_record_still_replays(dedup):
    dedup.check(["a"], ["1"], at(0))
    dedup.check(["a"], ["1"], at(5))
    assert dedup.check(["a"], ["1"], at(0)) == [None]


def test_duplicates_within_one_batch_are_caught(dedup):
    assert dedup.check(["a", "a", "a"], ["1", "2", "1"], at(0, 1, 0)) == [None, "1", None]


def test_same_id_twice_in_one_batch_at_two_offsets_the_second_is_a_resend(dedup):
    assert dedup.check(["a", "a"], ["1", "1"], at(0, 1)) == [None, "1"]


def test_the_claim_stores_the_id_and_the_position(dedup, client):
    dedup.check(["a"], ["1"], at(7, partition=3))
    current, _ = dedup.shard_keys(shard_of("a", dedup.shard_digits))
    assert client.hget(current, "a") == claim("1", "content.raw:3:7") == b"1\xffcontent.raw:3:7"


def test_an_id_with_any_characters_is_given_back_whole_as_duplicate_of(dedup):
    odd = "id:with:colons \u00e9\u2603 and spaces"
    dedup.check(["a"], [odd], at(0))
    assert dedup.check(["a", "a"], ["2", odd], at(1, 2)) == [odd, odd]


def test_a_legacy_bare_id_claim_lets_the_same_id_through_at_any_position(dedup, client):
    current, _ = dedup.shard_keys(shard_of("a", dedup.shard_digits))
    client.hset(current, "a", "1")  # as written before claims had positions
    assert dedup.check(["a"], ["1"], at(42)) == [None]


def test_a_legacy_bare_id_claim_makes_another_id_a_duplicate_of_it(dedup, client):
    current, _ = dedup.shard_keys(shard_of("a", dedup.shard_digits))
    client.hset(current, "a", "1")
    assert dedup.check(["a"], ["2"], at(0)) == ["1"]


def test_a_legacy_claim_read_by_its_id_is_pinned_to_that_position(dedup, client):
    current, _ = dedup.shard_keys(shard_of("a", dedup.shard_digits))
    client.hset(current, "a", "1")
    dedup.check(["a"], ["1"], at(42))
    assert client.hget(current, "a") == claim("1", "content.raw:0:42")
    assert dedup.check(["a", "a"], ["1", "1"], at(42, 43)) == [None, "1"]


def test_a_legacy_claim_in_the_previous_bucket_is_read_and_carried_forward(dedup, client, clock):
    _, previous = dedup.shard_keys(shard_of("a", dedup.shard_digits))
    client.hset(previous, "a", "1")
    clock.now += DAY
    assert dedup.check(["a", "b"], ["1", "2"], at(0, 1)) == [None, None]
    current, _ = dedup.shard_keys(shard_of("a", dedup.shard_digits))
    assert client.hget(current, "a") == claim("1", "content.raw:0:0")


def test_a_released_claim_lets_the_same_id_through_at_a_new_position(dedup):
    dedup.check(["a"], ["1"], at(0))
    dedup.release(["a"], ["1"], at(0))
    assert dedup.check(["a"], ["1"], at(9)) == [None]


def test_release_leaves_another_records_claim_in_place(dedup):
    dedup.check(["a"], ["1"], at(0))
    dedup.release(["a"], ["2"], at(1))  # a record that never held the claim
    assert dedup.check(["a"], ["2"], at(1)) == ["1"]


def test_release_withdraws_a_claim_from_the_previous_bucket(dedup, clock):
    dedup.check(["a", "b"], ["1", "2"], at(0, 1))
    clock.now += DAY
    dedup.release(["a"], ["1"], at(0))
    assert dedup.check(["a", "b"], ["3", "4"], at(2, 3)) == [None, "2"]


def test_fingerprint_from_the_previous_bucket_is_still_remembered(dedup, clock):
    dedup.check(["a"], ["1"], at(0))
    clock.now += DAY
    assert dedup.check(["a"], ["2"], at(1)) == ["1"]


def test_a_replay_from_the_previous_bucket_is_processed_and_carried_forward(dedup, clock, client):
    dedup.check(["a"], ["1"], at(0))
    clock.now += DAY
    assert dedup.check(["a"], ["1"], at(0)) == [None]
    current, _ = dedup.shard_keys(shard_of("a", dedup.shard_digits))
    assert client.hget(current, "a") == claim("1", "content.raw:0:0")


def test_a_duplicate_from_the_previous_bucket_is_not_carried_forward(dedup, clock, client):
    dedup.check(["a"], ["1"], at(0))
    clock.now += DAY
    assert dedup.check(["a"], ["1"], at(9)) == ["1"]
    current, _ = dedup.shard_keys(shard_of("a", dedup.shard_digits))
    assert client.hget(current, "a") is None


def test_fingerprint_is_forgotten_after_two_buckets(dedup, clock):
    dedup.check(["a"], ["1"], at(0))
    clock.now += 2 * DAY
    assert dedup.check(["a"], ["2"], at(1)) == [None]


def test_each_bucket_expires_when_its_successor_stops_reading_it(dedup, client, clock):
    dedup.check(["a"], ["1"], at(0))
    current, _ = dedup.shard_keys(shard_of("a", dedup.shard_digits))
    bucket = int(clock.now // DAY)
    assert client.expiretime(current) == (bucket + 2) * DAY + 60


def test_fingerprints_are_stored_in_their_shards_hash(dedup, client):
    """(In the single-hash layout every fingerprint's shard is that one hash.)"""
    fps = [f"{i:02x}{'0' * 30}" for i in range(256)]
    dedup.check(fps, [str(i) for i in range(256)], at(*range(256)))
    for i, fp in enumerate(fps):
        current, _ = dedup.shard_keys(shard_of(fp, dedup.shard_digits))
        assert client.hget(current, fp) == claim(str(i), f"content.raw:0:{i}")


def test_verdicts_come_back_in_input_order_across_shards(dedup):
    fps = [f"{i:02x}{'0' * 30}" for i in range(256)]
    dedup.check(fps, [f"first-{i}" for i in range(256)], at(*range(256)))
    shuffled = fps[::-1]
    assert dedup.check(shuffled, [f"again-{i}" for i in range(256)], at(*range(256, 512))) == [
        f"first-{255 - i}" for i in range(256)
    ]


def test_one_round_trip_per_batch(dedup, client):
    before = client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
    dedup.check([f"fp{i}" for i in range(500)], [str(i) for i in range(500)], at(*range(500)))
    after = client.info("commandstats")["cmdstat_evalsha"]["calls"]
    assert after - before == 1

"""The dedup Lua script against a real Redis."""

import time
import uuid

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    today, _ = dedup.shard_keys(shard_of("a", dedup.shard_digits))
    client.hset(today, "a", "1")
    clock.now += DAY  # today's bucket is now the previous one
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


def test_a_legacy_claim_of_another_id_in_the_previous_bucket_makes_a_duplicate_and_stays_there(
    dedup, client, clock
):
    today, _ = dedup.shard_keys(shard_of("a", dedup.shard_digits))
    client.hset(today, "a", "1")
    clock.now += DAY  # today's bucket is now the previous one
    assert dedup.check(["a"], ["2"], at(0)) == ["1"]
    current, previous = dedup.shard_keys(shard_of("a", dedup.shard_digits))
    assert client.hget(current, "a") is None
    assert client.hget(previous, "a") == b"1"


class Reference:
    """The documented semantics of the check, as plain Python: per bucket a dict of claims."""

    def __init__(self) -> None:
        self.buckets: dict[int, dict[str, bytes]] = {}

    def check(self, bucket: int, events: list[tuple[str, str, str]]) -> list[str | None]:
        current = self.buckets.setdefault(bucket, {})
        previous = self.buckets.get(bucket - 1, {})
        verdicts: list[str | None] = []
        for fp, event_id, position in events:
            mine = claim(event_id, position)
            seen = current.get(fp, previous.get(fp))
            verdict = None
            if seen is not None and seen != mine:
                claimant = seen.split(b"\xff", 1)[0].decode()
                bare_claim_of_mine = b"\xff" not in seen and claimant == event_id
                verdict = None if bare_claim_of_mine else claimant
            if verdict is None:
                current[fp] = mine
            verdicts.append(verdict)
        return verdicts


_FPS, _IDS = ("a1", "a2", "b1"), ("x", "y", "z")
_EVENT = st.tuples(st.sampled_from(_FPS), st.sampled_from(_IDS), st.sampled_from(("0", "1")))
_STEP = st.one_of(
    st.tuples(st.just("check"), st.lists(_EVENT, min_size=1, max_size=4)),
    st.tuples(st.just("next day"), st.just(None)),
    st.tuples(st.just("legacy claim"), st.tuples(st.sampled_from(_FPS), st.sampled_from(_IDS))),
)


@pytest.mark.parametrize("shard_digits", [None, 1], ids=["single-hash", "sharded"])
@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(steps=st.lists(_STEP, min_size=1, max_size=8))
def test_verdicts_and_stored_claims_follow_the_documented_semantics(client, shard_digits, steps):
    clock = Clock(int(time.time()) // DAY * DAY + 10)
    dedup = Deduplicator(
        client, f"test:{uuid.uuid4().hex}", DAY, clock=clock, shard_digits=shard_digits
    )
    reference, day = Reference(), 0
    for kind, arg in steps:
        if kind == "next day":
            clock.now += DAY
            day += 1
        elif kind == "legacy claim":
            fp, event_id = arg
            client.hset(dedup.shard_keys(shard_of(fp, dedup.shard_digits))[0], fp, event_id)
            reference.buckets.setdefault(day, {})[fp] = event_id.encode()
        else:
            fps, ids, positions = (list(column) for column in zip(*arg, strict=True))
            positions = [f"content.raw:0:{p}" for p in positions]
            expected = reference.check(day, list(zip(fps, ids, positions, strict=True)))
            assert dedup.check(fps, ids, positions) == expected
        for fp in _FPS:
            keys = dedup.shard_keys(shard_of(fp, dedup.shard_digits))
            stored = [client.hget(key, fp) for key in keys]
            modelled = [reference.buckets.get(day - i, {}).get(fp) for i in (0, 1)]
            assert stored == modelled

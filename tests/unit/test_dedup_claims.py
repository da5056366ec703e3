"""What a dedup claim stores and how a batch is packed into script arguments (no Redis needed:
the real script's verdicts are specified in tests/integration/test_dedup_redis.py)."""

import pytest
import redis

from consumer.dedup import CLAIM_SEPARATOR, Deduplicator, _group_args, claim


@pytest.fixture
def dedup() -> Deduplicator:
    # A client that is never connected: argument checks fail before any command is sent.
    return Deduplicator(redis.Redis(host="localhost", port=1), "dedup", 3600)


def test_a_claim_is_the_id_and_the_position_around_one_separator_byte():
    assert claim("evt-1", "content.raw:3:1042") == b"evt-1\xffcontent.raw:3:1042"


def test_the_separator_can_never_be_part_of_a_utf8_id_so_a_bare_id_is_told_from_a_claim():
    ids = ["evt-1", "é☃ with spaces:and:colons", "\x00\x7f", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢"]
    assert all(CLAIM_SEPARATOR not in i.encode() for i in ids)
    assert all(claim(i, "t:0:0").split(CLAIM_SEPARATOR)[0] == i.encode() for i in ids)


def test_each_event_is_packed_as_two_arguments_fingerprint_and_claim():
    args = _group_args([0, 2], ["fa", "fb", "fc"], ["1", "2", "3"], ["t:0:0", "t:0:1", "t:1:0"])
    assert args == [2, "fa", claim("1", "t:0:0"), "fc", claim("3", "t:1:0")]


def test_positions_must_match_the_events_one_to_one(dedup):
    with pytest.raises(ValueError, match="positions"):
        dedup.check(["a", "b"], ["1", "2"], ["t:0:0"])


def test_an_empty_batch_needs_no_redis(dedup):
    assert dedup.check([], [], []) == []

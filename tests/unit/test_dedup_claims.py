"""What a dedup claim stores and how a batch is packed into script arguments (no Redis needed:
the real script's verdicts are specified in tests/integration/test_dedup_redis.py)."""

import pytest
import redis

from consumer.dedup import (
    _CHECK_AND_SET,
    CLAIM_SEPARATOR,
    FIELD_SEPARATOR,
    Deduplicator,
    _group_args,
    claim,
)


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


def test_a_group_is_packed_as_its_count_then_its_fingerprints_ids_and_positions():
    args = _group_args([0, 2], ["fa", "fb", "fc"], ["1", "2", "3"], ["t:0:0", "t:0:1", "t:1:0"])
    assert args == [2, b"fa\xfefc", b"1\xfe3", b"t:0:0\xfet:1:0"]


def test_the_whole_batch_is_one_group_when_unsharded():
    args = _group_args(None, ["fa", "fb"], ["1", "2"], ["t:0:0", "t:0:1"])
    assert args == [2, b"fa\xfefb", b"1\xfe2", b"t:0:0\xfet:0:1"]


def test_the_field_separator_can_never_be_part_of_a_utf8_field():
    fields = ["evt-1", "é☃ with spaces:and:colons", "\x00\x7f\n", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", ""]
    packed = _group_args(None, fields, fields, fields)[1]
    assert isinstance(packed, bytes)
    assert [f.decode() for f in packed.split(FIELD_SEPARATOR)] == fields


def test_a_field_that_is_not_unicode_text_is_refused_before_anything_is_sent(dedup):
    with pytest.raises(UnicodeEncodeError):
        dedup.check(["fa"], ["lone \udcfe surrogate"], ["t:0:0"])


def test_positions_must_match_the_events_one_to_one(dedup):
    with pytest.raises(ValueError, match="positions"):
        dedup.check(["a", "b"], ["1", "2"], ["t:0:0"])


def test_an_empty_batch_needs_no_redis(dedup):
    assert dedup.check([], [], []) == []


def test_the_scripts_use_the_separators_python_defines():
    assert f"'\\{CLAIM_SEPARATOR[0]}'" in _CHECK_AND_SET
    assert f"'\\{FIELD_SEPARATOR[0]}'" in _CHECK_AND_SET

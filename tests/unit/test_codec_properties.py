"""Properties of the wire codec: what it writes reads back, and no input makes `decode` raise
anything but its `DecodeError`."""

import base64
import json
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from consumer.codec import (
    ClassifiedEncoder,
    DecodeError,
    DuplicateEncoder,
    decode,
    decode_all,
    encode_dead_letter,
)
from schemas.events import ClassifiedEvent, DuplicateEvent, RawContentEvent
from tests.support.strategies import (
    datetimes,
    event_ids,
    json_values,
    probabilities,
    raw_events,
    tags,
)

LIMIT = 1_000_000
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@given(raw_events)
def test_a_valid_event_decodes_to_its_fields(event: RawContentEvent):
    assert decode(event.model_dump_json().encode(), LIMIT) == dict(event)


@given(raw_events, tags, probabilities, st.sampled_from(["tagged", "review"]), datetimes)
def test_a_classified_record_reads_back_as_its_event_and_its_answer(
    event: RawContentEvent, tag: str, confidence: float, route: str, classified_at: datetime
):
    encode = ClassifiedEncoder(
        threshold=0.5, model_version="v1", consumed_at=NOW, classified_at=classified_at
    )
    value = encode(dict(event), tag, confidence, {tag: confidence}, route)
    record = ClassifiedEvent.model_validate_json(value)
    assert (record.tag, record.confidence, record.route) == (tag, confidence, route)
    assert record.probabilities == {tag: confidence}
    assert record.classified_at == classified_at
    assert decode(value, LIMIT) == dict(event)


@given(raw_events, event_ids)
def test_a_duplicate_record_reads_back_as_its_event_and_the_first_id(
    event: RawContentEvent, first_id: str | int
):
    value = DuplicateEncoder(consumed_at=NOW)(dict(event), first_id, "f" * 32)
    record = DuplicateEvent.model_validate_json(value)
    assert record.duplicate_of == first_id and record.fingerprint == "f" * 32
    assert decode(value, LIMIT) == dict(event)


@given(st.binary(max_size=200), st.integers(1, 300))
def test_a_dead_letter_carries_the_raw_bytes_up_to_the_limit(raw: bytes, max_raw_bytes: int):
    record = json.loads(
        encode_dead_letter(
            DecodeError("invalid_json", "bad"),
            value=raw,
            key=None,
            topic="in",
            partition=0,
            offset=1,
            timestamp_ms=None,
            consumed_at=NOW,
            max_raw_bytes=max_raw_bytes,
        )
    )
    assert base64.b64decode(record["raw_value_base64"]) == raw[:max_raw_bytes]
    assert record["raw_value_size"] == len(raw)
    assert record["raw_value_truncated"] == (len(raw) > max_raw_bytes)


def _decodes_or_says_why(value: bytes | None, max_bytes: int = LIMIT) -> None:
    try:
        event = decode(value, max_bytes)
    except DecodeError as error:
        assert error.code in ("oversize", "invalid_utf8", "invalid_json", "schema_validation")
        assert error.message
    else:  # what the model itself makes of the payload, field for field
        assert event == dict(RawContentEvent.model_validate_json(value))


@given(st.none() | st.binary(max_size=300), st.integers(0, 400))
def test_arbitrary_bytes_decode_or_raise_a_decode_error(value: bytes | None, max_bytes: int):
    _decodes_or_says_why(value, max_bytes)


@given(json_values)
def test_arbitrary_json_decodes_or_raises_a_decode_error(document):
    _decodes_or_says_why(orjson.dumps(document))


_EVENT_FIELDS = ["id", "title", "description", "created_on", "url", "source"]


@given(
    raw_events,
    st.dictionaries(st.sampled_from(_EVENT_FIELDS), json_values, max_size=3),
    st.lists(st.sampled_from(_EVENT_FIELDS), max_size=2),
)
def test_an_event_with_fields_changed_or_missing_decodes_or_raises_a_decode_error(
    event: RawContentEvent, changed: dict, missing: list[str]
):
    document = {**json.loads(event.model_dump_json()), **changed}
    for name in missing:
        document.pop(name, None)
    _decodes_or_says_why(orjson.dumps(document))


def _alone(value: bytes) -> dict[str, object] | None:
    try:
        return decode(value, LIMIT)
    except DecodeError:
        return None


@given(
    raw_events,
    st.dictionaries(st.sampled_from([*_EVENT_FIELDS, "extra"]), json_values, max_size=3),
    st.lists(st.sampled_from(_EVENT_FIELDS), max_size=2),
)
def test_a_payload_decodes_in_a_batch_exactly_as_it_decodes_alone(
    event: RawContentEvent, changed: dict, missing: list[str]
):
    """The batch path validates with the fields-only validator alone; `decode` falls back to the
    model. The two must agree on what passes and on the fields, in the model's order."""
    document = {**json.loads(event.model_dump_json()), **changed}
    for name in missing:
        document.pop(name, None)
    value = orjson.dumps(document)
    batch, alone = decode_all([value], LIMIT), _alone(value)
    assert batch == (None if alone is None else [alone])
    if batch is not None:
        assert list(batch[0]) == list(RawContentEvent.model_fields)


def test_a_payload_that_is_not_an_object_is_refused_as_the_model_refuses_it():
    with pytest.raises(DecodeError) as info:
        decode(b"[1, 2]", LIMIT)
    with pytest.raises(ValidationError) as model:
        RawContentEvent.model_validate_json(b"[1, 2]")
    assert info.value.details[0]["type"] == model.value.errors()[0]["type"] == "model_type"


def _decoded_as_text(value: bytes) -> dict[str, object] | str:
    """The reference `decode` checks against: the payload decoded to str first, then validated
    (what it did before validating the bytes directly). The event, or the error code."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_utf8"
    try:
        return dict(RawContentEvent.model_validate_json(text))
    except ValidationError as exc:
        return "invalid_json" if exc.errors()[0]["type"] == "json_invalid" else "schema_validation"


def _decoded(value: bytes) -> dict[str, object] | str:
    try:
        return decode(value, LIMIT)
    except DecodeError as error:
        return error.code


# Valid events' bytes with a byte sequence spliced in: invalid UTF-8 (a lone continuation byte,
# a truncated sequence, an encoded surrogate, an overlong form) inside strings or between tokens.
_bad_utf8 = st.sampled_from([b"\x80", b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf"])


@given(raw_events, _bad_utf8 | st.binary(max_size=3), st.floats(0, 1))
def test_decoding_the_bytes_is_decoding_their_text(event: RawContentEvent, splice, where):
    value = event.model_dump_json().encode()
    at = int(where * len(value))
    for candidate in (value, value[:at] + splice + value[at:]):
        assert _decoded(candidate) == _decoded_as_text(candidate)


@given(st.binary(max_size=300))
def test_decoding_arbitrary_bytes_is_decoding_their_text(value: bytes):
    assert _decoded(value) == _decoded_as_text(value)

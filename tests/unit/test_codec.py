import base64
import json
from datetime import UTC, datetime

import pytest

from consumer.codec import DecodeError, decode, encode_dead_letter

LIMIT = 10_000


def _error(value: bytes | None) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        decode(value, LIMIT)
    return info.value


def test_valid_event_decodes():
    event = decode(
        b'{"id":"a","title":"T","description":"D","created_on":"2020-01-01T00:00:00",'
        b'"url":"https://x","source":"s"}',
        LIMIT,
    )
    assert (event.id, event.title, event.url) == ("a", "T", "https://x")


def test_not_json_is_invalid_json():
    assert _error(b"not json").code == "invalid_json"


def test_bad_utf8_is_invalid_utf8():
    assert _error(b'{"title": "\xff"}').code == "invalid_utf8"


def test_wrong_types_are_schema_validation_with_field_details():
    err = _error(b'{"id": 1, "title": 5, "description": "d", "created_on": "2020-01-01"}')
    assert err.code == "schema_validation"
    assert err.details[0]["loc"] == "title"


def test_missing_title_is_schema_validation():
    err = _error(b'{"id": 1, "description": "d", "created_on": "2020-01-01"}')
    assert err.code == "schema_validation" and "title" in err.message


def test_oversize_field_is_schema_validation():
    title = "x" * 1001
    err = _error(
        json.dumps(
            {"id": 1, "title": title, "description": "", "created_on": "2020-01-01"}
        ).encode()
    )
    assert err.code == "schema_validation"


def test_oversize_payload_is_rejected_before_parsing():
    assert _error(b" " * (LIMIT + 1)).code == "oversize"


def test_null_value_is_invalid_json():
    assert _error(None).code == "invalid_json"


def test_json_array_is_schema_validation():
    assert _error(b"[1, 2]").code == "schema_validation"


def test_dead_letter_keeps_raw_bytes_exactly():
    raw = b"\x00\xffgarbage\n"
    record = json.loads(
        encode_dead_letter(
            DecodeError("invalid_utf8", "bad"),
            value=raw,
            key=b"k",
            topic="in",
            partition=2,
            offset=41,
            timestamp_ms=123,
            consumed_at=datetime.now(UTC),
        )
    )
    assert base64.b64decode(record["raw_value_base64"]) == raw
    assert record["raw_value_text"] is None
    assert (record["source_topic"], record["source_partition"], record["source_offset"]) == (
        "in",
        2,
        41,
    )
    assert record["error"]["code"] == "invalid_utf8"

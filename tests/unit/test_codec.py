import base64
import json
from datetime import UTC, datetime

import pytest

from consumer.codec import DecodeError, decode, decode_all, encode_dead_letter
from schemas.events import RawContentEvent

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
    assert (event["id"], event["title"], event["url"]) == ("a", "T", "https://x")


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


def _dead_letter(raw: bytes, code: str = "invalid_utf8", max_raw_bytes: int = LIMIT) -> dict:
    return json.loads(
        encode_dead_letter(
            DecodeError(code, "bad"),
            value=raw,
            key=b"k",
            topic="in",
            partition=2,
            offset=41,
            timestamp_ms=123,
            consumed_at=datetime.now(UTC),
            max_raw_bytes=max_raw_bytes,
        )
    )


def test_dead_letter_keeps_raw_bytes_exactly():
    raw = b"\x00\xffgarbage\n"
    record = _dead_letter(raw)
    assert base64.b64decode(record["raw_value_base64"]) == raw
    assert record["raw_value_size"] == len(raw) and not record["raw_value_truncated"]
    assert record["raw_value_text"] is None
    assert (record["source_topic"], record["source_partition"], record["source_offset"]) == (
        "in",
        2,
        41,
    )
    assert record["error"]["code"] == "invalid_utf8"


def test_oversize_dead_letter_is_cut_to_the_limit_and_says_so():
    record = _dead_letter(b"\x01" * 5000, "oversize", max_raw_bytes=1000)
    assert base64.b64decode(record["raw_value_base64"]) == b"\x01" * 1000
    assert record["raw_value_size"] == 5000 and record["raw_value_truncated"]


def test_largest_allowed_dead_letter_fits_in_a_kafka_record():
    from consumer.config import Settings

    limit = Settings.model_fields["max_message_bytes"].metadata
    largest = max(m.le for m in limit if hasattr(m, "le") and m.le is not None)
    record = _dead_letter(b"\x01" * (largest + 10), "oversize", max_raw_bytes=largest)
    assert len(json.dumps(record)) < 1_000_000


def test_empty_string_id_is_rejected():
    err = _error(b'{"id": "", "title": "t", "description": "", "created_on": "2020-01-01"}')
    assert err.code == "schema_validation"


def test_id_beyond_64_bits_is_rejected():
    err = _error(
        b'{"id": 18446744073709551616, "title": "t", "description": "", "created_on": "2020-01-01"}'
    )
    assert err.code == "schema_validation"


def test_a_batch_decodes_to_the_models_fields_in_its_order_unknown_keys_dropped():
    value = b'{"extra":1,"created_on":"2020-01-01T00:00:00","description":"D","title":"T","id":7}'
    [fields] = decode_all([value], LIMIT) or [None]
    assert fields == {
        "id": 7,
        "title": "T",
        "description": "D",
        "created_on": datetime(2020, 1, 1),
        "url": None,
        "source": None,
    }
    assert list(fields) == list(RawContentEvent.model_fields)

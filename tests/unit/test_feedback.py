"""The feedback record, its topic, and turning the topic's decisions into labels (no broker)."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.feedback import FeedbackRecord, feedback_key
from schemas.topics import DEFAULT_TOPICS, TOPIC_ROLES
from training.data import REQUIRED_COLUMNS, DataValidationError, Example, parse
from training.feedback import Message, parse_client_config, select_labels, write_labels

NLP, CV, MLOPS, OTHER = "natural-language-processing", "computer-vision", "mlops", "other"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def record(event_id: str | int = "e1", **fields: Any) -> dict[str, Any]:
    """A valid confirm of `event_id` as a JSON-ready dict, unless `fields` say otherwise."""
    values: dict[str, Any] = {
        "event_id": event_id,
        "title": f"Title of {event_id}",
        "description": f"Description of {event_id}",
        "created_on": "2020-02-20 06:43:18",
        "model_version": "abc123",
        "predicted_tag": CV,
        "probabilities": {CV: 0.6, NLP: 0.2, MLOPS: 0.1, OTHER: 0.1},
        "final_tag": CV,
        "action": "confirm",
        "reviewer": "alice",
        "decided_at": T0.isoformat(),
    }
    values.update(fields)
    return values


def message(offset: int, partition: int = 0, key: bytes | None = None, **fields: Any) -> Message:
    value = record(**fields)
    return Message(
        partition, offset, json.dumps(value).encode(), key or feedback_key(value["event_id"])
    )


# --- the record -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"action": "correct", "final_tag": MLOPS},
        {"action": "skip", "final_tag": None},
        {"action": "report", "final_tag": None, "reviewer": "platform", "comment": "wrong"},
        {"action": "report", "final_tag": NLP},
        {"event_id": 42, "url": "https://example.org/x", "seconds_to_decide": 0.0},
        {
            "shown_at": (T0 - timedelta(seconds=3)).isoformat(),
            "enqueued_at": (T0 - timedelta(hours=1)).isoformat(),
            "seconds_to_decide": 3.0,
            "source_topic": "content.review",
            "source_partition": 2,
            "source_offset": 17,
        },
    ],
)
def test_consistent_decisions_are_valid_and_read_back_from_their_json(fields):
    parsed = FeedbackRecord.model_validate(record(**fields))
    assert FeedbackRecord.model_validate_json(parsed.model_dump_json()) == parsed


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"final_tag": None}, "'confirm' needs a final_tag"),
        ({"final_tag": MLOPS}, "final_tag == predicted_tag"),
        ({"action": "correct", "final_tag": CV}, "final_tag != predicted_tag"),
        ({"action": "correct", "final_tag": None}, "'correct' needs a final_tag"),
        ({"action": "skip"}, "final_tag must be null"),
        ({"action": "report", "final_tag": CV}, "final_tag must differ"),
        ({"action": "delete"}, "action"),
        ({"final_tag": "robotics", "predicted_tag": "robotics"}, "predicted_tag"),
        ({"probabilities": {"robotics": 0.5}}, "probabilities"),
        ({"probabilities": {CV: 1.5}}, "probabilities"),
        ({"reviewer": "   "}, "reviewer"),
        ({"reviewer": "r" * 257}, "reviewer"),
        ({"comment": "c" * 2001}, "comment"),
        ({"seconds_to_decide": -1.0}, "seconds_to_decide"),
        ({"decided_at": "2026-03-01T12:00:00"}, "decided_at"),
        ({"model_version": ""}, "model_version"),
        ({"title": ""}, "title"),
        ({"event_id": ""}, "event_id"),
    ],
)
def test_inconsistent_or_malformed_decisions_are_rejected(fields, error):
    with pytest.raises(ValidationError, match=error):
        FeedbackRecord.model_validate(record(**fields))


def test_records_are_keyed_by_the_event_id_as_the_service_keys_its_outputs():
    assert FeedbackRecord.model_validate(record(7)).key == b"7" == feedback_key("7")
    assert FeedbackRecord.model_validate(record("a-1")).key == b"a-1"


def test_the_feedback_topic_is_a_role_but_not_a_service_output(monkeypatch):
    from consumer.config import Settings, topic_env

    assert "feedback" in TOPIC_ROLES
    assert DEFAULT_TOPICS.feedback == "content.feedback"
    assert DEFAULT_TOPICS.feedback not in DEFAULT_TOPICS.outputs()
    assert DEFAULT_TOPICS.prefixed("run1").feedback == "run1.feedback"
    monkeypatch.setenv("TOPIC_FEEDBACK", "other.feedback")
    assert Settings().topics.feedback == "other.feedback"
    assert topic_env(Settings().topics)["TOPIC_FEEDBACK"] == "other.feedback"


def test_the_service_starts_without_the_feedback_topic(monkeypatch):
    from consumer.app import _missing_topics
    from consumer.config import Settings

    for role in TOPIC_ROLES:
        monkeypatch.delenv(f"TOPIC_{role.upper()}", raising=False)

    class Cluster:
        def __init__(self, names: set[str]) -> None:
            self.topics = dict.fromkeys(names)

    class Consumer:
        def __init__(self, names: set[str]) -> None:
            self.names = names

        def list_topics(self, timeout: float) -> Cluster:
            return Cluster(self.names)

    service_topics = {DEFAULT_TOPICS.input, *DEFAULT_TOPICS.outputs()}
    assert _missing_topics(Consumer(service_topics), Settings()) == []
    missing = _missing_topics(Consumer({DEFAULT_TOPICS.input}), Settings())
    assert DEFAULT_TOPICS.feedback not in missing and len(missing) == 4


def test_the_json_schema_of_the_record_is_exported_for_its_topic(tmp_path: Path):
    from schemas.__main__ import main as schemas_main

    assert schemas_main(["export", str(tmp_path)]) == 0
    schema = json.loads((tmp_path / "feedback-record.schema.json").read_text())
    assert schema["x-topics"] == ["content.feedback"]
    assert schema["properties"]["action"]["enum"] == ["confirm", "correct", "skip", "report"]
    assert {"event_id", "predicted_tag", "action", "reviewer", "decided_at"} <= set(
        schema["required"]
    )


# --- from decisions to labels -----------------------------------------------------------------


def labels(selection) -> dict[str, str]:
    return {e.id: e.tag for e in selection.examples}


def accounted(selection) -> int:
    """Every record is a label or one of the counted reasons it gave none."""
    return len(selection.examples) + len(selection.invalid) + sum(selection.dropped.values())


def test_the_latest_decision_on_an_event_wins_in_offset_order():
    earlier = (T0 - timedelta(minutes=1)).isoformat()
    selection = select_labels(
        [
            message(0, event_id="e1"),
            message(1, event_id="e2", action="correct", final_tag=NLP),
            # Within a partition offsets order decisions, whatever the clocks said.
            message(2, event_id="e1", action="correct", final_tag=MLOPS, decided_at=earlier),
            message(3, event_id="e2", action="confirm", final_tag=CV, decided_at=T0.isoformat()),
        ]
    )
    assert labels(selection) == {"e1": MLOPS, "e2": CV}
    assert selection.dropped == {"superseded": 2}
    assert selection.records == 4 == accounted(selection)


def test_offset_order_holds_whatever_order_records_arrive_in():
    first = message(5, event_id="e1", action="correct", final_tag=MLOPS)
    second = message(9, event_id="e1")
    assert labels(select_labels([second, first])) == {"e1": CV}
    assert labels(select_labels([first, second])) == {"e1": CV}


def test_across_partitions_the_later_decided_at_wins():
    later = (T0 + timedelta(seconds=1)).isoformat()
    selection = select_labels(
        [
            message(7, partition=0, event_id="e1", action="correct", final_tag=OTHER),
            message(0, partition=1, event_id="e1", decided_at=later),
        ]
    )
    assert labels(selection) == {"e1": CV}
    assert selection.dropped == {"superseded": 1}


def test_integer_and_string_ids_of_the_same_event_are_one_event():
    selection = select_labels(
        [message(0, event_id=7), message(1, event_id="7", action="correct", final_tag=OTHER)]
    )
    assert labels(selection) == {"7": OTHER}


def test_skips_and_reports_without_a_tag_give_no_label_and_withdraw_an_earlier_one():
    selection = select_labels(
        [
            message(0, event_id="skipped", action="skip", final_tag=None),
            message(1, event_id="confirmed-then-reported"),
            message(2, event_id="confirmed-then-reported", action="report", final_tag=None),
            message(3, event_id="reported-with-tag", action="report", final_tag=NLP),
            message(4, event_id="reported-then-corrected", action="report", final_tag=None),
            message(5, event_id="reported-then-corrected", action="correct", final_tag=OTHER),
        ]
    )
    assert labels(selection) == {"reported-with-tag": NLP, "reported-then-corrected": OTHER}
    assert selection.dropped == {"skip": 1, "report_without_tag": 1, "superseded": 2}
    assert accounted(selection) == 6


def test_invalid_records_are_counted_and_named_not_fatal():
    selection = select_labels(
        [
            Message(0, 0, b"{not json", b"x"),
            message(1, event_id="e1", action="confirm", final_tag=MLOPS),  # confirm != predicted
            message(2, event_id="e2", key=b"another-event"),
            Message(0, 3, None, None),
            message(4, event_id="good"),
        ]
    )
    assert labels(selection) == {"good": CV}
    assert [(i.offset, i.reason.split(",")[0]) for i in selection.invalid] == [
        (0, "1 validation error(s)"),
        (1, "1 validation error(s)"),
        (2, "key b'another-event' is not the event id b'e2'"),
        (3, "null value"),
    ]
    summary = selection.summary()
    assert summary["invalid"] == 4 and summary["rows"] == 1 and summary["records"] == 5
    assert summary["invalid_records"][0] == {
        "partition": 0,
        "offset": 0,
        "reason": selection.invalid[0].reason,
    }


def test_a_tombstone_withdraws_the_decisions_before_it_on_its_partition():
    selection = select_labels(
        [
            message(0, event_id="e1"),
            Message(0, 1, None, b"e1"),
            message(2, event_id="e2"),
            Message(0, 3, None, b"e2"),
            message(4, event_id="e2", action="correct", final_tag=OTHER),
        ]
    )
    assert labels(selection) == {"e2": OTHER}
    assert selection.dropped == {"deleted": 1, "superseded": 3}
    assert accounted(selection) == 5


def test_one_text_keeps_one_label_the_later_decided():
    same = {"title": "Same title", "description": "Same text"}
    later = (T0 + timedelta(minutes=5)).isoformat()
    selection = select_labels(
        [
            message(0, event_id="old", **same, action="correct", final_tag=OTHER, decided_at=later),
            message(1, event_id="new", **same),
            message(2, event_id="blank", title="   "),
        ]
    )
    assert labels(selection) == {"old": OTHER}
    assert selection.dropped == {"duplicate_text": 1, "blank_title": 1}


def test_ids_that_differ_only_in_whitespace_keep_one_label_the_later_decided(tmp_path: Path):
    later = (T0 + timedelta(minutes=5)).isoformat()
    selection = select_labels(
        [
            message(0, event_id="42", title="First text"),
            message(1, event_id=" 42", title="Other text", decided_at=later),
        ]
    )
    assert labels(selection) == {" 42": CV}
    assert selection.dropped == {"duplicate_id": 1}
    write_labels(selection.examples, tmp_path / "labels.csv", source="test")  # valid file


def test_labels_are_written_in_the_data_sets_format_and_validated(tmp_path: Path):
    selection = select_labels(
        [
            message(0, event_id=3, title='A "quoted", title', description="two\nlines"),
            message(1, event_id="x-1", action="correct", final_tag=OTHER, created_on="2021-01-02"),
        ]
    )
    out = tmp_path / "labels" / "labels.csv"
    dataset = write_labels(selection.examples, out, source="test")
    raw = out.read_bytes()
    rows = list(csv.DictReader(io.StringIO(raw.decode(), newline="")))
    assert tuple(rows[0]) == REQUIRED_COLUMNS
    assert rows[0] == {
        "id": "3",
        "created_on": "2020-02-20 06:43:18",
        "title": 'A "quoted", title',
        "description": "two\nlines",
        "tag": CV,
    }
    assert (rows[1]["id"], rows[1]["created_on"], rows[1]["tag"]) == (
        "x-1",
        "2021-01-02 00:00:00",
        OTHER,
    )
    assert parse(raw, min_rows_per_tag=0).examples == dataset.examples
    assert [p.name for p in out.parent.iterdir()] == ["labels.csv"]


def test_no_decisions_write_a_header_only_labels_file(tmp_path: Path):
    out = tmp_path / "labels.csv"
    assert write_labels([], out, source="test").examples == []
    assert out.read_text() == ",".join(REQUIRED_COLUMNS) + "\n"


def test_rows_the_data_set_would_refuse_are_not_written(tmp_path: Path):
    out = tmp_path / "labels.csv"
    out.write_text("previous\n")
    bad = Example(id="1", created_on="", title="T", description="", tag="robotics")
    with pytest.raises(DataValidationError, match="unapproved tag 'robotics'"):
        write_labels([bad], out, source="test")
    assert out.read_text() == "previous\n"


def test_client_settings_are_key_value_pairs():
    assert parse_client_config(["security.protocol=SASL_SSL", "sasl.password=a=b"]) == {
        "security.protocol": "SASL_SSL",
        "sasl.password": "a=b",
    }
    with pytest.raises(ValueError, match="key=value"):
        parse_client_config(["nonsense"])

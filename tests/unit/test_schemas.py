import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.__main__ import main as schemas_main
from schemas.events import ClassifiedEvent, RawContentEvent

NOW = datetime(2026, 1, 1, tzinfo=UTC)
RAW = {"id": 7, "title": "T", "description": "D", "created_on": "2020-02-20 06:43:18"}


def classified(**fields: object) -> ClassifiedEvent:
    """A classified record of RAW, valid unless `fields` override it with something invalid."""
    defaults = {
        "tag": "mlops",
        "confidence": 0.9,
        "probabilities": {},
        "route": "tagged",
        "threshold": 0.5,
        "model_version": "v",
        "consumed_at": NOW,
        "classified_at": NOW,
    }
    return ClassifiedEvent(**RAW, **{**defaults, **fields})


def test_export_writes_a_schema_per_record_type(tmp_path: Path, capsys):
    assert schemas_main(["export", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "artifact-metadata.schema.json",
        "classified-event.schema.json",
        "dead-letter-event.schema.json",
        "duplicate-event.schema.json",
        "feedback-record.schema.json",
        "raw-content-event.schema.json",
    ]
    classified = json.loads((tmp_path / "classified-event.schema.json").read_text())
    assert classified["properties"]["tag"]["enum"] == [
        "natural-language-processing",
        "computer-vision",
        "mlops",
        "other",
    ]


def test_classified_event_rejects_unapproved_tag():
    with pytest.raises(ValidationError):
        classified(tag="robotics", probabilities={})


def test_classified_event_rejects_unapproved_probability_key():
    with pytest.raises(ValidationError):
        classified(tag="mlops", probabilities={"robotics": 0.1})


def test_raw_event_accepts_string_or_integer_id():
    assert RawContentEvent(**{**RAW, "id": "a-1"}).id == "a-1"
    assert RawContentEvent(**RAW).id == 7


def test_raw_event_requires_a_title():
    with pytest.raises(ValidationError):
        RawContentEvent(**{**RAW, "title": ""})


def test_prefixed_topics_keep_each_topic_role():
    from schemas.topics import DEFAULT_TOPICS

    topics = DEFAULT_TOPICS.prefixed("run1")
    assert (topics.input, topics.duplicate, topics.dead_letter) == (
        "run1.raw",
        "run1.duplicates",
        "run1.dead-letter",
    )
    assert DEFAULT_TOPICS.prefixed("run2", input="existing").input == "existing"


def test_the_artifact_metadata_schema_is_exported_with_its_required_fields(tmp_path: Path):
    schemas_main(["export", str(tmp_path)])
    schema = json.loads((tmp_path / "artifact-metadata.schema.json").read_text())
    assert {"format_version", "version", "labels", "models", "threshold", "prediction"} <= set(
        schema["required"]
    )
    assert schema["x-topics"] == []

"""Every record model of `schemas`, and the artifact's metadata, reads back from its own JSON as
what was written."""

import json

from hypothesis import given
from pydantic import BaseModel

from schemas.artifact import ArtifactMetadata
from tests.support.strategies import (
    artifact_metadata,
    classified_events,
    dead_letter_events,
    duplicate_events,
    error_infos,
    raw_events,
)


def _reads_back(record: BaseModel) -> None:
    assert type(record).model_validate_json(record.model_dump_json()) == record


@given(raw_events)
def test_a_raw_content_event_reads_back_from_its_json(record):
    _reads_back(record)


@given(classified_events)
def test_a_classified_event_reads_back_from_its_json(record):
    _reads_back(record)


@given(duplicate_events)
def test_a_duplicate_event_reads_back_from_its_json(record):
    _reads_back(record)


@given(error_infos)
def test_an_error_info_reads_back_from_its_json(record):
    _reads_back(record)


@given(dead_letter_events)
def test_a_dead_letter_event_reads_back_from_its_json(record):
    _reads_back(record)


@given(artifact_metadata)
def test_artifact_metadata_reads_back_from_its_json(meta: ArtifactMetadata):
    _reads_back(meta)


@given(artifact_metadata)
def test_artifact_metadata_reads_back_from_the_file_training_writes(meta: ArtifactMetadata):
    """`training.write` writes the set fields only, as sorted JSON; the loader validates that."""
    document = json.dumps(meta.model_dump(mode="json", exclude_unset=True), sort_keys=True)
    assert ArtifactMetadata.model_validate(json.loads(document)) == meta

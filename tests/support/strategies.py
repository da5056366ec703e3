"""Hypothesis strategies for the texts, events and records of `schemas`, valid by construction."""

from datetime import UTC, timedelta, timezone

from hypothesis import strategies as st

from schemas.artifact import FORMAT_VERSION, ArtifactMetadata, ModelFile, PredictionSettings
from schemas.events import (
    MAX_ID_CHARS,
    ClassifiedEvent,
    DeadLetterEvent,
    DuplicateEvent,
    ErrorInfo,
    RawContentEvent,
)
from schemas.tags import APPROVED_TAGS

# Pieces where normalisation could go wrong: URLs, separators and NUL (a batch's own separator),
# context-dependent case (final sigma), case mappings that change length, non-ASCII punctuation,
# spaces and digits, combining marks.
TRICKY_PIECES = [
    *"aZ9 .,:/-_\t\n\0\x1c\x1e\x1fhtpsw",
    *["http://", "https://", "www.", "HTTPS://x", "Σ", "ς", "İ", "ǅ", "ß", "é", "—", "’"],
    *["\u200b", "\u00a0", "\x85", "٣", "Ⅻ", "ﬁ", "\u0301", "K", "日本"],
]

texts = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(TRICKY_PIECES), max_size=20).map("".join),
)
"""Any text: arbitrary Unicode, or runs of the pieces above."""

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)
json_objects = st.dictionaries(st.text(max_size=10), json_values, max_size=4)

datetimes = st.datetimes(
    timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=5, minutes=30))])
)
probabilities = st.floats(0.0, 1.0)
tags = st.sampled_from(APPROVED_TAGS)
event_ids = st.one_of(st.text(min_size=1, max_size=MAX_ID_CHARS), st.integers(-(2**63), 2**63 - 1))


def _content(**fields: st.SearchStrategy) -> dict[str, st.SearchStrategy]:
    return {
        "id": event_ids,
        "title": st.text(min_size=1, max_size=80),
        "description": st.text(max_size=200),
        "created_on": datetimes,
        "url": st.none() | st.text(max_size=60),
        "source": st.none() | st.text(max_size=20),
        **fields,
    }


raw_events = st.fixed_dictionaries(_content()).map(lambda d: RawContentEvent(**d))

classified_events = st.fixed_dictionaries(
    _content(
        tag=tags,
        confidence=probabilities,
        probabilities=st.dictionaries(tags, probabilities),
        route=st.sampled_from(["tagged", "review"]),
        threshold=probabilities,
        model_version=st.text(max_size=16),
        consumed_at=datetimes,
        classified_at=datetimes,
    )
).map(lambda d: ClassifiedEvent(**d))

duplicate_events = st.fixed_dictionaries(
    _content(duplicate_of=event_ids, fingerprint=st.text(max_size=32), consumed_at=datetimes)
).map(lambda d: DuplicateEvent(**d))

error_infos = st.builds(
    ErrorInfo,
    code=st.sampled_from(
        ["oversize", "invalid_utf8", "invalid_json", "schema_validation", "processing_error"]
    ),
    message=st.text(max_size=40),
    details=st.lists(json_objects, max_size=3),
)

_optional_int = st.none() | st.integers(0, 2**31)

dead_letter_events = st.builds(
    DeadLetterEvent,
    error=error_infos,
    raw_value_base64=st.none() | st.binary(max_size=40).map(lambda b: b.hex()),
    raw_value_size=_optional_int,
    raw_value_truncated=st.booleans(),
    raw_key_base64=st.none() | st.text(max_size=20),
    raw_value_text=st.none() | st.text(max_size=40),
    source_topic=st.text(max_size=20),
    source_partition=st.integers(0, 1000),
    source_offset=st.integers(0, 2**62),
    source_timestamp_ms=st.none() | st.integers(0, 2**50),
    consumed_at=datetimes,
)

model_files = st.builds(
    ModelFile,
    file=st.text(min_size=1, max_size=20),
    sha256=st.text("0123456789abcdef", min_size=64, max_size=64),
    fasttext_params=json_objects,
)

artifact_metadata = st.fixed_dictionaries(
    {
        "format_version": st.just(FORMAT_VERSION),
        "version": st.text(min_size=1, max_size=16),
        "created_at": st.text(min_size=1, max_size=32),
        "labels": st.lists(st.text(max_size=30), max_size=5),
        "prediction": st.builds(
            PredictionSettings,
            description_view_weight=st.floats(0.0, 1e6, allow_nan=False, allow_infinity=False),
        ),
        "threshold": probabilities,
        "models": st.lists(model_files, min_size=1, max_size=3),
    },
    optional={
        "target_precision": st.none() | probabilities,
        "validation_metrics": json_objects,
        "calibration": json_objects,
        "data_sha256": st.none() | st.text(max_size=64),
        "data_source": st.none() | st.text(max_size=40),
        "library_versions": st.dictionaries(st.text(max_size=10), st.text(max_size=10)),
        "trained_on": st.none() | st.text(max_size=20),
        "num_train": _optional_int,
        "num_validation": _optional_int,
        "split_seed": _optional_int,
        "training_seconds": st.none() | st.floats(0, 1e6),
        # Keys newer training code may add: kept, not refused.
        "x_newer_field": json_values,
    },
).map(lambda d: ArtifactMetadata(**d))

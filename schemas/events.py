"""Pydantic models of every record on every topic.

These are the single source of truth for the wire format: the consumer validates input and builds
output through them, and `python -m schemas export DIR` writes their JSON Schema for upstream teams.
"""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.tags import Tag

MAX_ID_CHARS = 128
MAX_TITLE_CHARS = 1_000
MAX_DESCRIPTION_CHARS = 20_000
MAX_URL_CHARS = 2_048
MAX_SOURCE_CHARS = 256

# 64-bit signed integers: what every JSON library downstream can represent exactly.
EventId = (
    Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS)]
    | Annotated[int, Field(ge=-(2**63), lt=2**63)]
)
Title = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TITLE_CHARS)]
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION_CHARS)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class _Content(BaseModel):
    """Fields an upstream pipeline publishes; every output record repeats them."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=False, str_strip_whitespace=False)

    id: Annotated[EventId, Field(union_mode="left_to_right")]
    title: Title
    description: Description
    created_on: datetime
    url: Annotated[str, StringConstraints(max_length=MAX_URL_CHARS)] | None = None
    source: Annotated[str, StringConstraints(max_length=MAX_SOURCE_CHARS)] | None = None


class RawContentEvent(_Content):
    """An event on the input topic. The message key is optional and ignored."""


class ClassifiedEvent(_Content):
    """A classified event: on the tagged topic, or below the threshold on the review topic."""

    tag: Tag
    confidence: Probability
    probabilities: dict[Tag, Probability]
    route: Literal["tagged", "review"]
    threshold: Probability
    model_version: str
    consumed_at: datetime
    classified_at: datetime


class DuplicateEvent(_Content):
    """An event whose normalised content was already seen within the retention: under another id,
    or under the same id in another input record (a re-send)."""

    duplicate_of: EventId
    fingerprint: str
    consumed_at: datetime


ErrorCode = Literal[
    "oversize",
    "invalid_utf8",
    "invalid_json",
    "schema_validation",
    "processing_error",
]


class ErrorInfo(BaseModel):
    code: ErrorCode
    message: str
    details: list[dict[str, object]] = Field(default_factory=list)


class DeadLetterEvent(BaseModel):
    """An input record the service could not process, with the bytes exactly as received."""

    error: ErrorInfo
    raw_value_base64: str | None = Field(
        description="The record value exactly as received (cut only when raw_value_truncated)."
    )
    raw_value_size: int | None = Field(description="Size of the received value in bytes.")
    raw_value_truncated: bool = False
    raw_key_base64: str | None
    raw_value_text: str | None = Field(
        default=None, description="The raw value as UTF-8 text, when it is valid and small."
    )
    source_topic: str
    source_partition: int
    source_offset: int
    source_timestamp_ms: int | None
    consumed_at: datetime

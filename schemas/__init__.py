"""Event contracts shared by the training pipeline, the stream consumer and upstream teams."""

from schemas.events import (
    ClassifiedEvent,
    DeadLetterEvent,
    DuplicateEvent,
    ErrorInfo,
    RawContentEvent,
)
from schemas.tags import APPROVED_TAGS, Tag
from schemas.topics import Topics

__all__ = [
    "APPROVED_TAGS",
    "ClassifiedEvent",
    "DeadLetterEvent",
    "DuplicateEvent",
    "ErrorInfo",
    "RawContentEvent",
    "Tag",
    "Topics",
]

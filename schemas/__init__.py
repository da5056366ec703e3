"""Event contracts shared by the training pipeline, the stream consumer and upstream teams."""

from schemas.events import (
    ClassifiedEvent,
    DeadLetterEvent,
    DuplicateEvent,
    ErrorInfo,
    RawContentEvent,
)
from schemas.feedback import FeedbackRecord
from schemas.tags import APPROVED_TAGS, Tag
from schemas.topics import Topics

__all__ = [
    "APPROVED_TAGS",
    "ClassifiedEvent",
    "DeadLetterEvent",
    "DuplicateEvent",
    "ErrorInfo",
    "FeedbackRecord",
    "RawContentEvent",
    "Tag",
    "Topics",
]

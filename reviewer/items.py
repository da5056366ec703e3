"""What a review item shows: the event's text and the model's answer.

An item can come from three places: a `ClassifiedEvent` on the review topic, one from the tagged
topic that a user reported, or a feedback record (a report or an undo read back at startup). The
last has no confidence, route or threshold, so items carry only what all three have, which is
also exactly what a `FeedbackRecord` needs.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from schemas.events import ClassifiedEvent
from schemas.feedback import FeedbackRecord, feedback_key
from schemas.tags import APPROVED_TAGS, Tag

_CHECKED_AT = datetime(2000, 1, 1, tzinfo=UTC)


def event_key(event_id: str | int) -> str:
    """The text every lookup uses: the feedback record's key, so an event id given as 42 or as
    "42" names the same item, as it names the same record on the feedback topic."""
    return feedback_key(event_id).decode()


@dataclass(frozen=True, slots=True)
class ReviewEvent:
    event_id: str | int
    title: str
    description: str
    url: str | None
    created_on: datetime
    model_version: str
    predicted_tag: Tag
    probabilities: dict[Tag, float]

    @property
    def key(self) -> str:
        return event_key(self.event_id)

    @classmethod
    def from_classified(cls, event: ClassifiedEvent) -> "ReviewEvent":
        """The item of a classified event; pydantic's `ValidationError` when no feedback record
        could be built from it (`check_recordable`): such an event could never be decided."""
        item = cls(
            event_id=event.id,
            title=event.title,
            description=event.description,
            url=event.url,
            created_on=event.created_on,
            model_version=event.model_version,
            predicted_tag=event.tag,
            probabilities=dict(event.probabilities),
        )
        item.check_recordable()
        return item

    def check_recordable(self) -> None:
        """Raise pydantic's `ValidationError` unless a `FeedbackRecord` of this event validates.
        A `ClassifiedEvent` allows what a record does not (an empty `model_version`), so this
        builds one (a skip, the only action without a tag) rather than repeating the schema."""
        self.to_record(
            action="skip", final_tag=None, reviewer="intake-check", decided_at=_CHECKED_AT
        )

    def to_record(self, **decision: Any) -> FeedbackRecord:
        """The feedback record of a decision on this event: the event's fields and the model's
        answer, plus `decision` (action, final tag, reviewer, times, ...)."""
        return FeedbackRecord(
            event_id=self.event_id,
            title=self.title,
            description=self.description,
            url=self.url,
            created_on=self.created_on,
            model_version=self.model_version,
            predicted_tag=self.predicted_tag,
            probabilities=dict(self.probabilities),
            **decision,
        )

    @classmethod
    def from_record(cls, record: FeedbackRecord) -> "ReviewEvent":
        return cls(
            event_id=record.event_id,
            title=record.title,
            description=record.description,
            url=record.url,
            created_on=record.created_on,
            model_version=record.model_version,
            predicted_tag=record.predicted_tag,
            probabilities=dict(record.probabilities),
        )

    def bars(self) -> list[tuple[int, Tag, float]]:
        """(key 1–4, tag, probability) for every approved tag, in the order of the keys; a tag
        the model gave no probability shows as 0."""
        tags = cast(tuple[Tag, ...], APPROVED_TAGS)
        return [(i, tag, self.probabilities.get(tag, 0.0)) for i, tag in enumerate(tags, 1)]

    def as_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "title": self.title,
            "description": self.description,
            "url": self.url,
            "created_on": self.created_on.isoformat(),
            "model_version": self.model_version,
            "predicted_tag": self.predicted_tag,
            "probabilities": {tag: p for _, tag, p in self.bars()},
        }

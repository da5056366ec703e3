"""A human decision about one classified event, as recorded on the feedback topic.

Reviewers confirm, correct or skip the items the model routed to review; users report items they
think are tagged wrongly. Each decision is one record, keyed by the event id (`feedback_key`), so
every decision on an event lands on one partition in the order it was made and a later one
supersedes an earlier one. Training reads the topic back as labels (`python -m training feedback
export`), which is why a record carries the event's text: the labels must not depend on the input
topic still holding the event.
"""

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from schemas.events import MAX_URL_CHARS, Description, EventId, Probability, Title
from schemas.tags import Tag

MAX_REVIEWER_CHARS = 256
MAX_COMMENT_CHARS = 2_000

FeedbackAction = Literal["confirm", "correct", "skip", "report"]
"""confirm: the predicted tag is right. correct: another tag is. skip: the reviewer cannot tell
(no label). report: someone says the predicted tag is wrong, naming the right one or not."""

LABELLING_ACTIONS: frozenset[str] = frozenset({"confirm", "correct"})
"""Actions that always carry a final tag."""


def feedback_key(event_id: str | int) -> bytes:
    """The record key: the event id as text, as the service keys its own outputs, so the
    decisions on one event share a partition and keep their order."""
    return str(event_id).encode()


class FeedbackRecord(BaseModel):
    """One decision on one event: what the model said, what the person decided, who, and when.

    `final_tag` is the label the decision gives the event, or None when it gives none (a skip, a
    report that names no tag). The checks below keep a record's action and tags consistent, so a
    reader can trust a `confirm` to agree with the model and a `correct` to disagree with it.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: Annotated[EventId, Field(union_mode="left_to_right")]
    title: Title
    description: Description
    url: Annotated[str, StringConstraints(max_length=MAX_URL_CHARS)] | None = None
    created_on: datetime = Field(description="The event's own created_on, as upstream sent it.")
    model_version: Annotated[str, StringConstraints(min_length=1)]
    predicted_tag: Tag
    probabilities: dict[Tag, Probability]
    final_tag: Tag | None = None
    action: FeedbackAction
    reviewer: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_REVIEWER_CHARS)
    ] = Field(description="Who decided, or who reported: the signed-in reviewer or the platform.")
    comment: Annotated[str, StringConstraints(max_length=MAX_COMMENT_CHARS)] | None = None
    decided_at: AwareDatetime = Field(description="When the decision or report was made.")
    shown_at: AwareDatetime | None = Field(
        default=None, description="When the item was shown to the reviewer who decided."
    )
    seconds_to_decide: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = Field(
        default=None, description="From shown_at to decided_at, as the reviewer experienced it."
    )
    enqueued_at: AwareDatetime | None = Field(
        default=None, description="When the item entered the review queue (classified or reported)."
    )
    source_topic: str | None = Field(
        default=None, description="The topic the reviewed item was read from (review topic)."
    )
    source_partition: Annotated[int, Field(ge=0)] | None = None
    source_offset: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _action_matches_tags(self) -> Self:
        if self.action in LABELLING_ACTIONS and self.final_tag is None:
            raise ValueError(f"action {self.action!r} needs a final_tag")
        if self.action == "confirm" and self.final_tag != self.predicted_tag:
            raise ValueError("action 'confirm' needs final_tag == predicted_tag")
        if self.action == "correct" and self.final_tag == self.predicted_tag:
            raise ValueError("action 'correct' needs final_tag != predicted_tag")
        if self.action == "skip" and self.final_tag is not None:
            raise ValueError("action 'skip' gives no label: final_tag must be null")
        if self.action == "report" and self.final_tag == self.predicted_tag:
            raise ValueError("a report says the predicted tag is wrong: final_tag must differ")
        return self

    @property
    def key(self) -> bytes:
        return feedback_key(self.event_id)

"""Feedback records: how the app builds them, writes them, and reads them back at startup.

Writing goes through `FeedbackSink` (Kafka in production, a list in unit tests): `write` returns
only once the record is acknowledged, so the app answers success only for a decision that is on
the topic, and changes no state for one that is not.

Undo writes a record too: a `skip` by the same reviewer whose comment starts with `UNDO_PREFIX`.
Decisions are keyed by event id and the latest one wins, so without it an undone label would stay
the event's latest if the reviewer never decided again; a skip gives no label, so the training
export drops the event, and the next decision (written later, on the same partition) supersedes
the skip. The prefix tells this app, reading the topic back at startup, that the event is not
decided but waiting (`reviewer.history`).
"""

from datetime import datetime
from typing import Protocol

from reviewer.items import ReviewEvent
from schemas.feedback import FeedbackAction, FeedbackRecord
from schemas.tags import Tag

UNDO_PREFIX = "undo:"
"""Comment of the skip record an undo writes (the rest says what was withdrawn)."""


class FeedbackWriteError(RuntimeError):
    """The record was not acknowledged by the broker in time."""


class FeedbackSink(Protocol):
    """Where feedback records go; `write` blocks until the record is durable or raises
    `FeedbackWriteError`."""

    def write(self, record: FeedbackRecord) -> None: ...

    def close(self) -> None: ...


def build_record(
    event: ReviewEvent,
    *,
    action: FeedbackAction,
    final_tag: Tag | None,
    reviewer: str,
    decided_at: datetime,
    shown_at: datetime | None = None,
    enqueued_at: datetime | None = None,
    comment: str | None = None,
    source_topic: str | None = None,
    source_partition: int | None = None,
    source_offset: int | None = None,
) -> FeedbackRecord:
    seconds = None
    if shown_at is not None:
        seconds = max((decided_at - shown_at).total_seconds(), 0.0)
    return event.to_record(
        final_tag=final_tag,
        action=action,
        reviewer=reviewer,
        comment=comment,
        decided_at=decided_at,
        shown_at=shown_at,
        seconds_to_decide=seconds,
        enqueued_at=enqueued_at,
        source_topic=source_topic,
        source_partition=source_partition,
        source_offset=source_offset,
    )


def undo_comment(withdrawn: FeedbackRecord) -> str:
    tag = f" {withdrawn.final_tag}" if withdrawn.final_tag else ""
    return f"{UNDO_PREFIX} withdraws {withdrawn.action}{tag} by {withdrawn.reviewer}"


def is_undo(record: FeedbackRecord) -> bool:
    return record.action == "skip" and (record.comment or "").startswith(UNDO_PREFIX)

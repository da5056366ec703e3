"""The feedback topic read back at startup: which events are decided, which wait.

The app keeps no state of its own; the feedback topic is its memory. Committed review offsets
say which records need no second look; everything after them is read again after a restart, and
this history says which of those events are decided already (skipped without showing) and which
are waiting although their records may be gone or committed (a report, an undone decision: rebuilt
from the record, which carries the event's text).
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import ValidationError

from reviewer.feedback import is_undo
from reviewer.items import ReviewEvent
from reviewer.queue import Decided, Position, Report, ReviewQueue
from schemas.feedback import FeedbackRecord
from streams.snapshot import TopicRecord

Message = TopicRecord
"""A record as read from the feedback topic (value None: a tombstone)."""


@dataclass
class History:
    """What the feedback topic says about every event, its latest record winning.

    `decided`: events whose latest record is a reviewer's confirm, correct or skip: never shown
    again. `waiting`: events whose latest record is a report or an undo: back in the queue, rebuilt
    from the record itself (it carries the event's text), since the review topic may no longer
    hold them or their offsets may be committed.
    """

    decided: dict[str, FeedbackRecord] = field(default_factory=dict)
    waiting: list[FeedbackRecord] = field(default_factory=list)
    reports: dict[str, FeedbackRecord] = field(default_factory=dict)
    """The latest report of each waiting event whose latest record is an undo: the undone item
    was a reported one, and is rebuilt as reported."""
    records: int = 0
    invalid: int = 0


def latest_by_event(messages: Iterable[Message]) -> History:
    """Latest wins: by offset within a partition (one event's records share one, keyed by event
    id); should an event's records be spread over partitions, by `decided_at`. A tombstone
    withdraws its key's earlier records."""
    history = History()
    last: dict[str, dict[int, tuple[int, FeedbackRecord | None]]] = {}
    reports: dict[str, tuple[int, int, FeedbackRecord]] = {}
    """Each event's latest report, and where it was (a tombstone after it withdraws it)."""
    for message in messages:
        history.records += 1
        if message.value is None:
            if message.key is None:
                history.invalid += 1
                continue
            key = message.key.decode("utf-8", "replace")
            record: FeedbackRecord | None = None
        else:
            try:
                record = FeedbackRecord.model_validate_json(message.value)
            except ValidationError:
                history.invalid += 1
                continue
            key = record.key.decode()
        partitions = last.setdefault(key, {})
        previous = partitions.get(message.partition)
        if previous is None or previous[0] < message.offset:
            partitions[message.partition] = (message.offset, record)
        report = reports.get(key)
        if record is None:
            if report is not None and report[0] == message.partition and report[1] < message.offset:
                del reports[key]
        elif record.action == "report" and (
            report is None or report[2].decided_at <= record.decided_at
        ):
            reports[key] = (message.partition, message.offset, record)
    for key, partitions in last.items():
        records = [r for _, r in partitions.values() if r is not None]
        if not records:
            continue
        winner = max(records, key=lambda r: r.decided_at)
        if winner.action == "report" or is_undo(winner):
            history.waiting.append(winner)
            report = reports.get(key)
            if is_undo(winner) and report is not None and report[2].decided_at < winner.decided_at:
                history.reports[key] = report[2]
        else:
            history.decided[key] = winner
    history.waiting.sort(key=lambda r: (r.enqueued_at or r.decided_at, r.decided_at))
    return history


def restore(queue: ReviewQueue, history: History) -> None:
    """Put the history into a fresh queue, before the review topic is read."""
    for key, record in history.decided.items():
        queue.remember_decided(key, Decided(record.action, record.reviewer, record.decided_at))
    for record in history.waiting:
        source = None
        if record.source_partition is not None and record.source_offset is not None:
            source = Position(record.source_partition, record.source_offset)
        reported = record if record.action == "report" else history.reports.get(record.key.decode())
        report = None
        if reported is not None:
            report = Report(
                reported.reviewer, reported.final_tag, reported.comment, reported.decided_at
            )
        queue.add_durable(
            ReviewEvent.from_record(record),
            enqueued_at=record.enqueued_at or record.decided_at,
            source=source,
            report=report,
        )

"""What the routes do, apart from HTTP: check, write the feedback record, then change the queue.

The order matters: every check that can refuse runs before the record is written, and the queue
changes only after the sink acknowledged it. So a refused request writes nothing, and a request
whose write failed (503) leaves the item where it was, for the reviewer to retry.

Writes are serialized by one lock: the check and the state change around a write must see the
same queue, and reviewers decide at human speed, so the lock costs nothing worth measuring.
"""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from pydantic import ValidationError

from reviewer.errors import FeedbackUnavailable, InvalidBody, UnapprovedTag, UnknownEvent
from reviewer.feedback import FeedbackSink, FeedbackWriteError, build_record, undo_comment
from reviewer.index import EventIndex
from reviewer.items import ReviewEvent, event_key
from reviewer.metrics import ReviewerMetrics
from reviewer.queue import Item, QueueStats, Report, ReviewQueue
from schemas.feedback import FeedbackAction, FeedbackRecord
from schemas.tags import APPROVED_TAGS, Tag

log = logging.getLogger(__name__)


def _build(event: ReviewEvent, **fields: Any) -> FeedbackRecord:
    """`build_record`, a record that does not validate refused (422) rather than a 500: intake
    passes over events no record can be built from, so this is the last line, not the rule."""
    try:
        return build_record(event, **fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidBody(
            f"no feedback record can be built for this decision ({problems})",
            code="unrecordable",
        ) from exc


def approved(tag: object) -> Tag:
    if not isinstance(tag, str) or tag not in APPROVED_TAGS:
        raise UnapprovedTag(f"tag {tag!r} is not one of the approved tags: {list(APPROVED_TAGS)}")
    return cast(Tag, tag)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The queue for pages and health: its counts and the depth ops sees."""

    stats: QueueStats
    lag: int

    @property
    def depth(self) -> int:
        return self.lag + self.stats.items


class ReviewService:
    """:param lag: records on the review topic not read yet (the consumer thread measures it)."""

    def __init__(
        self,
        queue: ReviewQueue,
        sink: FeedbackSink,
        index: EventIndex,
        metrics: ReviewerMetrics,
        *,
        review_topic: str,
        lag: Callable[[], int] = lambda: 0,
    ) -> None:
        self.queue = queue
        self.index = index
        self.metrics = metrics
        self._sink = sink
        self._review_topic = review_topic
        self._lag = lag
        self._write_lock = threading.Lock()
        self._last_stamp: datetime | None = None
        metrics.watch(self._depth, self._oldest_waiting_seconds)

    # -- reading -----------------------------------------------------------------------------

    def next_item(self, reviewer: str) -> Item | None:
        return self.queue.lease_next(reviewer)

    def snapshot(self) -> Snapshot:
        stats = self.queue.stats()
        self.metrics.items_leased.set(stats.leased)
        return Snapshot(stats, max(self._lag(), 0))

    # -- deciding ----------------------------------------------------------------------------

    def label(self, reviewer: str, event_id: str | int, tag: object) -> FeedbackRecord:
        """confirm when `tag` is the model's, correct otherwise."""
        final = approved(tag)
        with self._write_lock:
            item = self.queue.claim(event_key(event_id), reviewer)
            action: FeedbackAction = "confirm" if final == item.event.predicted_tag else "correct"
            record = self._record(item, reviewer, action=action, final_tag=final)
            self._write(record)
            self.queue.complete(item, reviewer, record)
        self._count(record)
        return record

    def skip(self, reviewer: str, event_id: str | int) -> FeedbackRecord:
        with self._write_lock:
            item = self.queue.claim(event_key(event_id), reviewer)
            record = self._record(item, reviewer, action="skip", final_tag=None)
            self._write(record)
            self.queue.complete(item, reviewer, record)
        self._count(record)
        return record

    def undo(self, reviewer: str) -> Item:
        """Withdraw the reviewer's last decision: a skip record (see reviewer.feedback) makes
        sure the withdrawn label is not the event's latest; the item is theirs again."""
        with self._write_lock:
            decision = self.queue.undo_target(reviewer)
            withdrawn = decision.record
            item = decision.item
            record = _build(
                item.event,
                action="skip",
                final_tag=None,
                reviewer=reviewer,
                decided_at=self._stamp(),
                enqueued_at=item.enqueued_at,
                comment=undo_comment(withdrawn),
                **self._source(item),
            )
            self._write(record)
            restored = self.queue.restore(reviewer, decision)
        self.metrics.undos.inc()
        log.info(
            "undo",
            extra={"event_id": item.key, "reviewer": reviewer, "withdrawn": withdrawn.action},
        )
        return restored

    def report(
        self,
        reporter: str,
        event_id: str | int,
        reported_tag: object | None = None,
        comment: str | None = None,
    ) -> FeedbackRecord:
        """A user says the event's tag is wrong: a `report` record, and the event is queued
        ahead of the low-confidence items (or marked reported, if already queued)."""
        final = approved(reported_tag) if reported_tag is not None else None
        key = event_key(event_id)
        with self._write_lock:
            event = self.queue.queued_event(key) or self.index.get(key)
            if event is None:
                raise UnknownEvent(
                    f"event {key!r} is neither in the review queue nor among the recent tagged "
                    "events this app knows"
                )
            if final is not None and final == event.predicted_tag:
                raise InvalidBody(
                    f"reported_tag {final!r} is the tag the model gave: a report names another "
                    "tag, or none",
                    code="reported_tag_is_predicted",
                )
            now = self._stamp()
            record = _build(
                event,
                action="report",
                final_tag=final,
                reviewer=reporter,
                decided_at=now,
                enqueued_at=now,
                comment=comment,
            )
            self._write(record)
            self.queue.add_durable(
                event,
                enqueued_at=now,
                report=Report(reporter, final, comment, now),
            )
        self._count(record)
        return record

    # -- internals ---------------------------------------------------------------------------

    def _record(
        self, item: Item, reviewer: str, *, action: FeedbackAction, final_tag: Tag | None
    ) -> FeedbackRecord:
        return _build(
            item.event,
            action=action,
            final_tag=final_tag,
            reviewer=reviewer,
            decided_at=self._stamp(),
            shown_at=item.shown_at_for(reviewer),
            enqueued_at=item.enqueued_at,
            **self._source(item),
        )

    def _source(self, item: Item) -> dict[str, Any]:
        """Where the item was read, for the record (nothing for a reported tagged event)."""
        if item.source is None:
            return {}
        return {
            "source_topic": self._review_topic,
            "source_partition": item.source.partition,
            "source_offset": item.source.offset,
        }

    def _stamp(self) -> datetime:
        """Now, but strictly after every record this process wrote before (write lock held):
        readers that compare `decided_at` (an event's records spread over partitions) then
        agree with the order of writing, e.g. a decision right after an undo wins."""
        now = self.queue.now()
        if self._last_stamp is not None and now <= self._last_stamp:
            now = self._last_stamp + timedelta(microseconds=1)
        self._last_stamp = now
        return now

    def _write(self, record: FeedbackRecord) -> None:
        try:
            self._sink.write(record)
        except FeedbackWriteError as exc:
            self.metrics.write_errors.inc()
            log.error("feedback write failed", extra={"event_id": str(record.event_id)})
            raise FeedbackUnavailable(
                f"the decision could not be recorded ({exc}); nothing changed, try again"
            ) from exc

    def _count(self, record: FeedbackRecord) -> None:
        self.metrics.decisions.labels(record.action).inc()
        if record.action == "correct":
            self.metrics.corrections.labels(record.predicted_tag).inc()
        if record.seconds_to_decide is not None and record.action != "report":
            self.metrics.decision_seconds.observe(record.seconds_to_decide)
        log.info(
            "decision",
            extra={
                "event_id": str(record.event_id),
                "action": record.action,
                "final_tag": record.final_tag,
                "reviewer": record.reviewer,
            },
        )

    def _depth(self) -> float:
        return float(self.snapshot().depth)

    def _oldest_waiting_seconds(self) -> float:
        oldest = self.queue.stats().oldest_enqueued_at
        if oldest is None:
            return 0.0
        return max((self.queue.now() - oldest).total_seconds(), 0.0)

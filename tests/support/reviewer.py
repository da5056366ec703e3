"""Test doubles and builders for the review app: a feedback sink that keeps records in a list, a
clock the test moves, review events, and the app wired to them (no Kafka)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from reviewer.auth import Authenticator
from reviewer.feedback import FeedbackWriteError
from reviewer.index import EventIndex
from reviewer.items import ReviewEvent
from reviewer.metrics import ReviewerMetrics
from reviewer.queue import Position, ReviewQueue
from reviewer.service import ReviewService
from schemas.feedback import FeedbackRecord
from schemas.tags import APPROVED_TAGS

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TOKENS = {"tok-alice": "alice", "tok-bob": "bob", "tok-platform": "platform"}
SECRET = "test-secret-key"
REVIEW_TOPIC = "test.review"


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class MemorySink:
    """The FeedbackSink seam in memory; `fail = True` makes the next writes fail like a broker
    that does not acknowledge; `during_write` runs while a write is in flight (other requests
    meanwhile)."""

    records: list[FeedbackRecord] = field(default_factory=list)
    fail: bool = False
    during_write: Callable[[FeedbackRecord], None] | None = None

    def write(self, record: FeedbackRecord) -> None:
        if self.during_write is not None:
            self.during_write(record)
        if self.fail:
            raise FeedbackWriteError("broker down (test)")
        # What Kafka would carry: the JSON round trip, so a record that does not serialise fails.
        self.records.append(FeedbackRecord.model_validate_json(record.model_dump_json()))

    def close(self) -> None:
        pass


def probabilities(top: str, p: float = 0.55) -> dict[str, float]:
    rest = (1.0 - p) / (len(APPROVED_TAGS) - 1)
    return {tag: (p if tag == top else rest) for tag in APPROVED_TAGS}


def review_event(
    event_id: str | int, top: str = "natural-language-processing", title: str | None = None
) -> ReviewEvent:
    return ReviewEvent(
        event_id=event_id,
        title=title or f"Item {event_id}",
        description=f"Description of item {event_id}.",
        url=f"https://example.org/{event_id}",
        created_on=datetime(2024, 5, 1, 12, 0),
        model_version="test-model-1",
        predicted_tag=top,  # type: ignore[arg-type]
        probabilities=probabilities(top),  # type: ignore[arg-type]
    )


def classified_event(
    event_id: str | int,
    top: str = "natural-language-processing",
    title: str | None = None,
    route: str = "review",
    p: float = 0.45,
    description: str | None = None,
    probs: dict[str, float] | None = None,
) -> dict[str, Any]:
    """A ClassifiedEvent as the service writes it to the review (or tagged) topic."""
    now = datetime.now(UTC).isoformat()
    probs = probs or probabilities(top, p)
    return {
        "id": event_id,
        "title": title or f"Item {event_id}",
        "description": description or f"Description of item {event_id}.",
        "created_on": "2024-05-01T12:00:00",
        "url": f"https://example.org/{event_id}",
        "source": "test",
        "tag": top,
        "confidence": probs[top],
        "probabilities": probs,
        "route": route,
        "threshold": 0.6,
        "model_version": "test-model-1",
        "consumed_at": now,
        "classified_at": now,
    }


def classified_bytes(event_id: str | int, **kwargs: Any) -> bytes:
    return json.dumps(classified_event(event_id, **kwargs)).encode()


@dataclass
class Harness:
    clock: FakeClock
    queue: ReviewQueue
    sink: MemorySink
    index: EventIndex
    metrics: ReviewerMetrics
    service: ReviewService
    auth: Authenticator

    def add(
        self,
        event_id: str | int,
        partition: int = 0,
        offset: int | None = None,
        top: str = "natural-language-processing",
    ) -> ReviewEvent:
        """Put an event on the queue as if read from the review topic."""
        event = review_event(event_id, top)
        if offset is None:
            offset = self._next_offset(partition)
        self.queue.add_review(event, Position(partition, offset), self.clock())
        self.index.put(event)
        return event

    def _next_offset(self, partition: int) -> int:
        self._offsets[partition] = self._offsets.get(partition, -1) + 1
        return self._offsets[partition]

    _offsets: dict[int, int] = field(default_factory=dict)


def harness(lease_seconds: float = 300.0, proxy_header: str | None = None) -> Harness:
    clock = FakeClock()
    queue = ReviewQueue(lease_seconds, clock)
    sink = MemorySink()
    index = EventIndex(1000)
    metrics = ReviewerMetrics()
    service = ReviewService(queue, sink, index, metrics, review_topic=REVIEW_TOPIC)
    return Harness(clock, queue, sink, index, metrics, service, Authenticator(TOKENS, proxy_header))

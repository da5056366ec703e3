"""The app wired to Kafka: what `python -m reviewer` runs.

Startup order, and why: the feedback topic is read to its end first (decided events, waiting
reports and undos), and only then does the review reader join its group; a record re-read after a
restart is thus always recognised as decided. Until that read is done, uvicorn's lifespan has not
finished and the app takes no requests.
"""

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool

from reviewer import history
from reviewer.config import ReviewerSettings
from reviewer.index import EventIndex
from reviewer.kafka import KafkaFeedbackSink, ReviewReader, TaggedReader, read_feedback
from reviewer.metrics import ReviewerMetrics
from reviewer.queue import ReviewQueue
from reviewer.service import ReviewService

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Runtime:
    def __init__(self, settings: ReviewerSettings, clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.metrics = ReviewerMetrics()
        self.queue = ReviewQueue(settings.reviewer_lease_seconds, clock)
        self.index = EventIndex(settings.reviewer_index_size)
        self.sink = KafkaFeedbackSink(settings)
        self.reader = ReviewReader(settings, self.queue, self.index, self.metrics, clock)
        self.tagged = TaggedReader(settings, self.index)
        self.service = ReviewService(
            self.queue,
            self.sink,
            self.index,
            self.metrics,
            review_topic=settings.topic_review,
            lag=lambda: self.reader.lag,
        )
        self.started = False
        self.restored: dict[str, int] = {}

    def start(self) -> None:
        began = time.monotonic()
        messages = read_feedback(self.settings, self.settings.reviewer_startup_timeout_seconds)
        past = history.latest_by_event(messages)
        history.restore(self.queue, past)
        self.restored = {
            "records": past.records,
            "invalid": past.invalid,
            "decided": len(past.decided),
            "waiting": len(past.waiting),
        }
        log.info(
            "feedback history read",
            extra={**self.restored, "seconds": round(time.monotonic() - began, 3)},
        )
        self.reader.start()
        self.tagged.start()
        self.started = True

    def stop(self) -> None:
        self.reader.stop()
        self.tagged.stop()
        self.sink.close()

    def health(self) -> tuple[bool, dict[str, Any]]:
        ready = self.started and self.reader.alive and self.tagged.alive
        return ready, {
            "history": self.restored,
            "review_reader": "running" if self.reader.alive else (self.reader.error or "stopped"),
            "assigned_partitions": self.reader.assigned,
            "tagged_reader": "running" if self.tagged.alive else (self.tagged.error or "stopped"),
        }

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(self.start)
        try:
            yield
        finally:
            await run_in_threadpool(self.stop)

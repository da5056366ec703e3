"""The Redis outage guard: while the dedup store fails, hold the batch, pause input, retry.

Nothing may leave without its dedup verdict and nothing may be skipped, so a batch whose dedup
check fails is held (its offsets never stored) and retried on an exponential backoff until the
check itself succeeds. The guard is only the state and the schedule; the consume loop pauses and
resumes the Kafka consumer when it says so.
"""

import logging
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from prometheus_client import Counter, Gauge

log = logging.getLogger(__name__)

R = TypeVar("R")


class OutageGuard(Generic[R]):
    """Held records and the retry schedule of one Redis outage at a time.

    :param backoff_initial: seconds before the first retry of a held batch.
    :param backoff_max: the backoff doubles after every failed retry, up to this.
    :param paused: gauge set to 1 while an outage holds input (`tagger_paused`).
    :param errors: counter of failed dedup checks (`tagger_redis_errors_total`).
    :param clock: monotonic seconds; injectable so tests control time.
    """

    def __init__(
        self,
        *,
        backoff_initial: float,
        backoff_max: float,
        paused: Gauge,
        errors: Counter,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._paused = paused
        self._errors = errors
        self._clock = clock
        self._held: list[R] | None = None  # None while Redis works
        self._down_since = 0.0
        self._backoff = backoff_initial
        self.next_try = 0.0

    @property
    def active(self) -> bool:
        """True from a failed dedup check until one succeeds."""
        return self._held is not None

    @property
    def held(self) -> list[R]:
        """The records waiting for their dedup check (empty outside an outage)."""
        return self._held if self._held is not None else []

    def failed(self, records: list[R], error: Exception) -> None:
        """A dedup check of `records` failed: hold them and schedule the next try."""
        self._errors.inc()
        now = self._clock()
        if self._held is None:
            self._down_since = now
            self._backoff = self._backoff_initial
            log.error("redis unavailable; pausing consumption", extra={"error": str(error)})
        else:
            self._backoff = min(self._backoff * 2, self._backoff_max)
        self._held = records
        self._paused.set(1)
        self.next_try = now + self._backoff

    def due(self, now: float) -> bool:
        return now >= self.next_try

    def hold(self, record: R) -> None:
        """A record that arrived after the pause was asked for (fetched just before it)."""
        if self._held is not None:
            self._held.append(record)

    def forget_held(self) -> None:
        """The held records' partitions were revoked or lost: their offsets were never stored,
        so their next owner reads them again. The outage itself goes on."""
        if self._held is not None:
            self._held = []

    def recovered(self) -> None:
        """A dedup check succeeded: Redis is back."""
        if self._held is None:
            return
        down_for = self._clock() - self._down_since
        self._held = None
        self._paused.set(0)
        log.info("redis is back; resuming", extra={"down_seconds": round(down_for, 3)})

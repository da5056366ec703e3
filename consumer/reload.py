"""Hot reload: watch a model source, and hand a verified new version over without a restart.

A `ModelWatcher` is a daemon thread per watched source (`MODEL_URI` for the champion; the same
class can watch the challenger's URI with another `deliver` target). Every `poll_seconds` it asks
the source what is there (cheap); when that differs from what it last handled, it fetches, loads
and verifies the candidate on its own thread, off the hot path, then `deliver`s it. For the
champion, `deliver` is a `Mailbox.put`: the service loop takes the model out between two batches
(`Service.step`), so a batch is always processed by exactly one model and every output carries the
version that tagged it.

A candidate that fails loading or verification is refused: logged with the reason, counted
(`tagger_model_reloads_total{result="refused"}`), and not retried until the source's revision
changes again; the serving model stays. A source that cannot be read is retried next poll.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, Literal, TypeVar

from consumer.metrics import Metrics
from consumer.model_source import LoadedModel, ModelSource, SourceUnavailable
from inference.artifact import Artifact, ArtifactError
from inference.verify import VerificationError

__all__ = ["CheckResult", "Mailbox", "ModelWatcher"]

log = logging.getLogger(__name__)

T = TypeVar("T")

CheckResult = Literal["unchanged", "absent", "loaded", "refused", "error"]


class Mailbox(Generic[T]):
    """One slot between a producer thread and the loop: `put` replaces whatever is still waiting
    (only the newest model matters), `take` empties the slot."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._item: T | None = None

    def put(self, item: T) -> None:
        with self._lock:
            self._item = item

    def take(self) -> T | None:
        with self._lock:
            item, self._item = self._item, None
        return item


class ModelWatcher:
    """Polls one source and delivers each new verified model once.

    :param source: where the model comes from.
    :param slot: `champion` or `challenger`: the label of its metrics and logs.
    :param deliver: called on the watcher's thread with each verified new model.
    :param verify: raises `VerificationError` when a loaded model must not serve.
    :param poll_seconds: the pause between checks.
    :param metrics: the process' metrics (`model_reloads`, `model_last_check`).
    :param serving: the model already serving from this source, if any: not delivered again.
    :param on_absent: called once when the source stops holding a model (an alias removed).
    """

    def __init__(
        self,
        source: ModelSource,
        *,
        slot: str,
        deliver: Callable[[LoadedModel], None],
        verify: Callable[[Artifact], None],
        poll_seconds: float,
        metrics: Metrics,
        serving: LoadedModel | None = None,
        on_absent: Callable[[], None] | None = None,
    ) -> None:
        if poll_seconds <= 0:
            raise ValueError("poll_seconds must be positive; do not start a watcher to disable it")
        self.source = source
        self.slot = slot
        self._deliver = deliver
        self._verify = verify
        self._poll_seconds = poll_seconds
        self._reloads = metrics.model_reloads
        self._last_check = metrics.model_last_check.labels(slot)
        self._seen: str | None = serving.revision if serving else None
        self._serving_version: str | None = serving.version if serving else None
        self._on_absent = on_absent
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "ModelWatcher":
        self._thread = threading.Thread(
            target=self._run, name=f"model-watcher-{self.slot}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._poll_seconds):
            try:
                self.check()
            except Exception:  # the watcher must outlive any surprise; the model stays
                log.exception("model check failed", extra={"slot": self.slot})

    # -- one check ----------------------------------------------------------------------------
    def check(self) -> CheckResult:
        """One poll: public so tests drive the watcher without its thread."""
        self._last_check.set(time.time())
        try:
            revision = self.source.revision()
        except SourceUnavailable as exc:
            return self._error(exc)
        if revision is None:
            return self._absent()
        if revision == self._seen:
            return "unchanged"
        started = time.perf_counter()
        try:
            loaded = self.source.fetch(revision)
        except SourceUnavailable as exc:
            return self._error(exc)
        except ArtifactError as exc:
            return self._refuse(revision, str(exc))
        if loaded.version == self._serving_version:
            self._seen = revision  # e.g. the same artifact registered again: nothing to swap
            log.info("model source changed, same artifact version", extra=self._context(loaded))
            return "unchanged"
        try:
            self._verify(loaded.artifact)
        except VerificationError as exc:
            return self._refuse(revision, str(exc), loaded.version)
        context = self._context(loaded)
        self._deliver(loaded)
        self._seen, self._serving_version = revision, loaded.version
        self._reloads.labels(self.slot, "loaded").inc()
        log.info(
            "new model verified and handed over",
            extra={**context, "load_seconds": round(time.perf_counter() - started, 3)},
        )
        return "loaded"

    def _refuse(self, revision: str, reason: str, version: str | None = None) -> CheckResult:
        self._seen = revision
        self._reloads.labels(self.slot, "refused").inc()
        log.warning(
            "model refused; the current one stays",
            extra={
                "slot": self.slot,
                "uri": self.source.uri,
                "revision": revision,
                "candidate_version": version,
                "serving_version": self._serving_version,
                "reason": reason,
            },
        )
        return "refused"

    def _error(self, exc: Exception) -> CheckResult:
        self._reloads.labels(self.slot, "error").inc()
        log.warning(
            "model source unavailable; retrying next poll",
            extra={"slot": self.slot, "uri": self.source.uri, "error": str(exc)},
        )
        return "error"

    def _absent(self) -> CheckResult:
        if self._seen is not None:
            log.info(
                "model source holds no model", extra={"slot": self.slot, "uri": self.source.uri}
            )
            self._seen = None
            if self._on_absent is not None:  # the target let its model go: deliver it again
                self._serving_version = None
                self._on_absent()
        return "absent"

    def _context(self, loaded: LoadedModel) -> dict[str, str | None]:
        return {
            "slot": self.slot,
            "uri": loaded.uri,
            "revision": loaded.revision,
            "version": loaded.version,
            "previous_version": self._serving_version,
        }

    def __repr__(self) -> str:
        return f"ModelWatcher({self.slot}, {self.source!r}, every {self._poll_seconds}s)"

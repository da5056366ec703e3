"""Drift: does live traffic still look, to the serving model, like the data it was trained for?

The artifact carries reference distributions (`schemas.artifact.ReferenceDistributions`: the share
of each tag among the model's top answers and a histogram of its top confidence, from predictions
on data it did not train on). `DriftMonitor` keeps the same two distributions over a sliding window
of the last classified events and exports the population stability index (PSI) of the window
against the reference, per signal, plus the share of the window routed to review.

PSI = sum((a - e) * ln(a / e)) over the bins, a the window's share and e the reference's. Rules of
thumb (and the alert thresholds): below 0.1 stable, 0.1-0.25 a moderate shift, above 0.25 a major
one. The window is kept as one count vector per batch in a deque with running totals, so a batch
costs O(events) in numpy/C plus O(bins) in Python, never a pass over the whole window.
"""

import logging
import math
import threading
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Final

import numpy as np
from numpy.typing import NDArray

from consumer.metrics import Metrics
from inference.predictor import Answers, Prediction
from schemas.artifact import ReferenceDistributions
from schemas.tags import APPROVED_TAGS

log = logging.getLogger(__name__)

SIGNALS: Final = ("tag_share", "confidence")
PSI_EPSILON: Final = 1e-4
"""Stands in for a share of 0 (a bin the window or the reference never saw), where ln(a / e) is
undefined; small enough that a bin both sides leave empty adds nothing, large enough that one
seen on one side only weighs like a real shift instead of infinity."""


def psi(
    actual: Sequence[float] | NDArray[np.float64],
    expected: Sequence[float] | NDArray[np.float64],
    epsilon: float = PSI_EPSILON,
) -> float:
    """The population stability index of `actual` against `expected`: sum((a - e) * ln(a / e)),
    each share below `epsilon` raised to `epsilon` first (no renormalising).

    0 for identical distributions, symmetric in its arguments, and grows with the shift.

    :param actual: the observed shares per bin (summing to 1).
    :param expected: the reference shares, same bins, same order.
    :param epsilon: the floor for empty bins (`PSI_EPSILON`).
    :raises ValueError: when the two have different numbers of bins.
    """
    a = np.maximum(np.asarray(actual, dtype=np.float64), epsilon)
    e = np.maximum(np.asarray(expected, dtype=np.float64), epsilon)
    if a.shape != e.shape:
        raise ValueError(f"PSI needs the same bins on both sides: {a.shape} vs {e.shape}")
    return float(np.sum((a - e) * np.log(a / e)))


def confidence_bins(
    confidences: NDArray[np.float64], edges: NDArray[np.float64]
) -> NDArray[np.intp]:
    """Each confidence's histogram bin, as `inference.drift_reference.bin_index` gives it (bin i is
    [edges[i], edges[i+1]), the last one also holds edges[-1], values outside are clamped), for a
    whole batch in one numpy call. NaN must be removed first (it belongs to no bin)."""
    bins = np.searchsorted(edges, confidences, side="right") - 1
    return np.clip(bins, 0, len(edges) - 2)


@dataclass(frozen=True, slots=True)
class _Batch:
    """One batch's contribution to the window."""

    events: int
    tags: NDArray[np.int64]
    confidences: NDArray[np.int64]
    review: int


class DriftMonitor:
    """A `consumer.pipeline.BatchObserver`: PSI of the last `window_events` classified events
    against the serving model's reference, per signal, and their review share.

    The window holds whole batches: the newest ones that together hold at least `window_events`
    events (the oldest batch leaves once the others hold enough without it). `use` replaces the
    reference when a new model takes over and empties the window, as traffic seen by the old model
    says nothing about the new one.

    :param metrics: where `tagger_drift_psi`, `tagger_review_share` and
        `tagger_drift_window_events` are set.
    :param window_events: how many recent events the statistics cover.
    :param min_events: below this many events in the window the statistics are NaN (too noisy).
    :param reference: the serving model's reference distributions, if it has them (see `use`).
    """

    def __init__(
        self,
        metrics: Metrics,
        window_events: int = 5000,
        min_events: int = 500,
        reference: ReferenceDistributions | None = None,
    ) -> None:
        if window_events < 1 or min_events < 1:
            raise ValueError("window_events and min_events must be positive")
        if min_events > window_events:
            raise ValueError(f"min_events ({min_events}) > window_events ({window_events})")
        self._metrics = metrics
        self._window_events = window_events
        self._min_events = min_events
        self._tag_index = {tag: i for i, tag in enumerate(APPROVED_TAGS)}
        self._lock = threading.Lock()  # `use` may come from the reload watcher's thread
        self._reference: ReferenceDistributions | None = None
        self._edges: NDArray[np.float64] = np.zeros(0)
        self._expected_tags: NDArray[np.float64] = np.zeros(0)
        self._expected_confidence: NDArray[np.float64] = np.zeros(0)
        self._window: deque[_Batch] = deque()
        self._events = 0
        self._review = 0
        self._tags = np.zeros(len(APPROVED_TAGS), dtype=np.int64)
        self._confidences = np.zeros(0, dtype=np.int64)
        self.use(reference)

    def use(self, reference: ReferenceDistributions | None) -> None:
        """Compare against `reference` from now on (None: a model without one; only the review
        share is exported) and start an empty window."""
        with self._lock:
            self._reference = reference
            if reference is None:
                self._edges = self._expected_tags = self._expected_confidence = np.zeros(0)
            else:
                self._edges = np.asarray(reference.confidence_edges, dtype=np.float64)
                self._expected_tags = np.array(
                    [reference.tag_share.get(tag, 0.0) for tag in APPROVED_TAGS]
                )
                self._expected_confidence = np.asarray(reference.confidence_share, dtype=np.float64)
                if len(self._expected_confidence) != len(self._edges) - 1:
                    log.warning(
                        "reference confidence histogram does not match its edges; "
                        "confidence drift is not exported",
                        extra={
                            "edges": len(self._edges),
                            "shares": len(self._expected_confidence),
                        },
                    )
            self._window.clear()
            self._events = self._review = 0
            self._tags = np.zeros(len(APPROVED_TAGS), dtype=np.int64)
            self._confidences = np.zeros(max(len(self._edges) - 1, 0), dtype=np.int64)
            self._export()

    @property
    def window_size(self) -> int:
        """Events in the window now."""
        return self._events

    def observe(
        self,
        pairs: Sequence[tuple[str, str]],
        predictions: Sequence[Prediction],
        threshold: float,
    ) -> None:
        """Add one batch's classified events to the window and export the window's statistics.

        :param pairs: the events' normalised fields (unused: drift is read off the answers).
        :param predictions: the serving model's answers.
        :param threshold: the serving model's review threshold.
        """
        if not predictions:
            return
        tags = np.zeros(len(APPROVED_TAGS), dtype=np.int64)
        tag_counts: Iterable[tuple[str, int]]
        if isinstance(predictions, Answers):  # read as arrays: no tuple per answer
            counts = np.bincount(predictions.top(), minlength=len(predictions.labels))
            tag_counts = zip(predictions.labels, counts.tolist(), strict=True)
            confidences = predictions.confidences()
        else:
            tag_counts = Counter(map(itemgetter(0), predictions)).items()
            confidences = np.fromiter(map(itemgetter(1), predictions), np.float64, len(predictions))
        for tag, count in tag_counts:
            index = self._tag_index.get(tag)
            if index is not None:  # a verified model answers only approved tags
                tags[index] += count
        review = int(np.count_nonzero(confidences < threshold))
        with self._lock:
            histogram = np.zeros(len(self._confidences), dtype=np.int64)
            if len(histogram):
                finite = confidences[~np.isnan(confidences)]
                histogram = np.bincount(
                    confidence_bins(finite, self._edges), minlength=len(histogram)
                ).astype(np.int64)
            batch = _Batch(len(predictions), tags, histogram, review)
            self._window.append(batch)
            self._add(batch, 1)
            while self._events - self._window[0].events >= self._window_events:
                self._add(self._window.popleft(), -1)
            self._export()

    def statistics(self) -> dict[str, float]:
        """The window's PSI per signal (NaN when not computable) and review share, as exported."""
        with self._lock:
            return self._statistics()

    def _add(self, batch: _Batch, sign: int) -> None:
        self._events += sign * batch.events
        self._review += sign * batch.review
        self._tags += sign * batch.tags
        self._confidences += sign * batch.confidences

    def _statistics(self) -> dict[str, float]:
        stats = dict.fromkeys((*SIGNALS, "review_share"), math.nan)
        if self._events < self._min_events:
            return stats
        stats["review_share"] = self._review / self._events
        if self._reference is not None:
            tagged = self._tags.sum()
            if tagged:
                stats["tag_share"] = psi(self._tags / tagged, self._expected_tags)
            seen = self._confidences.sum()
            if seen and len(self._expected_confidence) == len(self._confidences):
                stats["confidence"] = psi(self._confidences / seen, self._expected_confidence)
        return stats

    def _export(self) -> None:
        stats = self._statistics()
        metrics = self._metrics
        metrics.drift_window_events.set(self._events)
        metrics.review_share.set(stats["review_share"])
        if self._reference is None:
            metrics.drift_psi.clear()
            return
        for signal in SIGNALS:
            metrics.drift_psi.labels(signal).set(stats[signal])


__all__ = ["PSI_EPSILON", "SIGNALS", "DriftMonitor", "confidence_bins", "psi"]

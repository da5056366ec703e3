"""Prometheus metrics the service exports; the dashboard and alerts query exactly these names."""

import urllib.request
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any, get_args

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from inference.drift_reference import DEFAULT_EDGES
from schemas.events import ErrorCode
from schemas.tags import APPROVED_TAGS

OUTCOMES = ("tagged", "review", "duplicate", "dead_letter")
KAFKA_ERROR_KINDS = ("client", "consume", "produce", "commit", "store_offsets", "transaction")
GUARANTEES = ("at-least-once", "exactly-once")
TRANSACTION_RESULTS = ("committed", "aborted")
FATAL_REASONS = ("fenced", "fatal", "unknown_outcome")
MODEL_SLOTS = ("champion", "challenger")
"""The serving model, and the shadow one scored alongside it."""
RELOAD_RESULTS = ("loaded", "refused", "error")
SHADOW_RESULTS = ("agree", "disagree")

# Microseconds to tens of milliseconds: a fastText call is a few µs, a slow batch a few ms.
CLASSIFY_BUCKETS = (
    1e-6,
    2e-6,
    5e-6,
    1e-5,
    2e-5,
    5e-5,
    1e-4,
    2.5e-4,
    5e-4,
    1e-3,
    2.5e-3,
    5e-3,
    1e-2,
    5e-2,
)
END_TO_END_BUCKETS = (
    1e-4,
    2.5e-4,
    5e-4,
    1e-3,
    2.5e-3,
    5e-3,
    1e-2,
    2.5e-2,
    5e-2,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


class Metrics:
    """One registry per process, so tests and multiple workers never share global state."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "tagger_events", "Consumed events by final outcome.", ["outcome"], registry=r
        )
        self.tags = Counter(
            "tagger_tags",
            "Classified events by predicted tag and route.",
            ["tag", "route"],
            registry=r,
        )
        self.dead_letters = Counter(
            "tagger_dead_letters", "Dead-lettered events by error code.", ["code"], registry=r
        )
        self.classification_seconds = Histogram(
            "tagger_classification_seconds",
            "Model input + predict time per event, amortised over its batch (one model call each).",
            buckets=CLASSIFY_BUCKETS,
            registry=r,
        )
        self.end_to_end_seconds = Histogram(
            "tagger_end_to_end_seconds",
            "Broker append timestamp of the input record to its output record's delivery "
            "(at-least-once) or its transaction's commit (exactly-once): when readers can see it.",
            buckets=END_TO_END_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "tagger_batch_size", "Events per consumed batch.", buckets=BATCH_BUCKETS, registry=r
        )
        self.batch_seconds = Histogram(
            "tagger_batch_seconds",
            "Time to process one batch, from poll return to outputs handed to the producer.",
            buckets=(*CLASSIFY_BUCKETS[6:], 0.1, 0.5, 1.0, 5.0),
            registry=r,
        )
        self.dedup_seconds = Histogram(
            "tagger_dedup_seconds",
            "Time one batch's dedup check held the loop: sending it, and waiting for the reply "
            "once the batch is classified (the round trip overlaps the model call).",
            buckets=(*CLASSIFY_BUCKETS[4:], 0.1, 0.5, 1.0),
            registry=r,
        )
        self.classification_fallbacks = Counter(
            "tagger_classification_fallbacks",
            "Batches whose single model call failed and were classified one event at a time.",
            registry=r,
        )
        self.redis_errors = Counter(
            "tagger_redis_errors", "Failed Redis calls (the batch is retried).", registry=r
        )
        self.kafka_errors = Counter(
            "tagger_kafka_errors", "Kafka client errors by kind.", ["kind"], registry=r
        )
        self.consumer_lag = Gauge(
            "tagger_consumer_lag",
            "High watermark minus the next offset to consume, per assigned partition.",
            ["topic", "partition"],
            registry=r,
        )
        self.assigned_partitions = Gauge(
            "tagger_assigned_partitions", "Input partitions assigned to this instance.", registry=r
        )
        self.paused = Gauge(
            "tagger_paused",
            "1 while consumption is paused because Redis is unavailable.",
            registry=r,
        )
        # -- exactly-once transactions (consumer/transactions.py) --------------------------------
        self.processing_guarantee = Gauge(
            "tagger_processing_guarantee",
            "1 for the PROCESSING_GUARANTEE this instance runs under (at-least-once|exactly-once).",
            ["guarantee"],
            registry=r,
        )
        self.start_time = Gauge(
            "tagger_start_time_seconds",
            "Unix time this process started: a series that keeps changing is a restart loop.",
            registry=r,
        )
        self.start_time.set_to_current_time()
        self.transactions = Counter(
            "tagger_transactions",
            "Exactly-once transactions by result: committed (outputs and input offsets visible "
            "together) or aborted (neither; the inputs are read again).",
            ["result"],
            registry=r,
        )
        self.transaction_commit_seconds = Histogram(
            "tagger_transaction_commit_seconds",
            "Time to commit one transaction: its input offsets sent, its outputs flushed, the "
            "commit acknowledged by the coordinator.",
            buckets=(1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=r,
        )
        self.transaction_fatal_errors = Counter(
            "tagger_transaction_fatal_errors",
            "Transactional errors the process exits on, by reason: fenced (another producer with "
            "this INSTANCE_ID, or a newer group generation), fatal (client error), "
            "unknown_outcome (a commit that did not finish within transaction.timeout.ms).",
            ["reason"],
            registry=r,
        )
        for result in TRANSACTION_RESULTS:
            self.transactions.labels(result)
        for reason in FATAL_REASONS:
            self.transaction_fatal_errors.labels(reason)
        # -- the model in service and its hot reload (consumer/reload.py) ----------------------
        self.model_info = Info(
            "tagger_model",
            "The model serving now: artifact version, created_at, source URI, registry version.",
            registry=r,
        )
        self.model_threshold = Gauge(
            "tagger_model_threshold",
            "Calibrated confidence threshold of the model serving now.",
            registry=r,
        )
        self.model_reloads = Counter(
            "tagger_model_reloads",
            "New model versions seen at a watched source, by slot and result: loaded (verified "
            "and handed over), refused (failed loading or verification; not retried until the "
            "source changes), error (the source could not be read; retried next poll).",
            ["slot", "result"],
            registry=r,
        )
        self.model_last_check = Gauge(
            "tagger_model_last_check_timestamp_seconds",
            "Unix time of the last check of a slot's model source.",
            ["slot"],
            registry=r,
        )
        for slot in MODEL_SLOTS:
            for result in RELOAD_RESULTS:
                self.model_reloads.labels(slot, result)
        # -- the shadow challenger (consumer/shadow.py) and drift (consumer/drift.py) -----------
        # Shadow series count only the events the challenger scored, for both models, so the two
        # are compared on the same traffic (SHADOW_SHARE may sample a part of it).
        self.shadow_agreement = Counter(
            "tagger_shadow_agreement",
            "Events scored by both models, by whether the challenger's top tag is the champion's.",
            ["result"],
            registry=r,
        )
        self.shadow_tags = Counter(
            "tagger_shadow_tags",
            "Shadow-scored events by model (champion|challenger), top tag and the route that "
            "model's own threshold would give (nothing is routed by the challenger).",
            ["model", "tag", "route"],
            registry=r,
        )
        self.shadow_confidence = Histogram(
            "tagger_shadow_confidence",
            "Top-answer confidence of shadow-scored events, by model.",
            ["model"],
            buckets=DEFAULT_EDGES[1:],
            registry=r,
        )
        self.shadow_classification_seconds = Histogram(
            "tagger_shadow_classification_seconds",
            "Challenger model time per shadow-scored event, amortised over its batch.",
            buckets=CLASSIFY_BUCKETS,
            registry=r,
        )
        self.shadow_failures = Counter(
            "tagger_shadow_failures",
            "Batches the challenger failed to score (logged; routing is unaffected).",
            registry=r,
        )
        self.shadow_challenger_info = Gauge(
            "tagger_shadow_challenger_info",
            "1 for the challenger's artifact version while one is scored; no series without one.",
            ["version"],
            registry=r,
        )
        self.drift_psi = Gauge(
            "tagger_drift_psi",
            "Population stability index of the drift window against the serving model's reference"
            " distributions, by signal (tag_share|confidence); NaN until the window holds "
            "DRIFT_MIN_EVENTS, no series when the model carries no reference.",
            ["signal"],
            registry=r,
        )
        self.review_share = Gauge(
            "tagger_review_share",
            "Share of the drift window's events below the review threshold; NaN until the window "
            "holds DRIFT_MIN_EVENTS.",
            registry=r,
        )
        self.drift_window_events = Gauge(
            "tagger_drift_window_events", "Classified events in the drift window.", registry=r
        )
        for result in SHADOW_RESULTS:
            self.shadow_agreement.labels(result)
        for slot in MODEL_SLOTS:
            self.shadow_confidence.labels(slot)
            for tag in APPROVED_TAGS:
                for route in ("tagged", "review"):
                    self.shadow_tags.labels(slot, tag, route)
        # Known label values start at zero, so rates and alerts see a series before the first event.
        for outcome in OUTCOMES:
            self.events.labels(outcome)
        for tag in APPROVED_TAGS:
            for route in ("tagged", "review"):
                self.tags.labels(tag, route)
        for code in get_args(ErrorCode):
            self.dead_letters.labels(code)
        for kind in KAFKA_ERROR_KINDS:
            self.kafka_errors.labels(kind)


def _internals(histogram: Histogram) -> tuple[Sequence[float], Sequence[Any], Any] | None:
    """Bucket bounds, bucket counters and the sum counter, while the client still has them."""
    parts = (getattr(histogram, name, None) for name in ("_upper_bounds", "_buckets", "_sum"))
    bounds, buckets, total = parts
    return None if bounds is None or buckets is None or total is None else (bounds, buckets, total)


def observe_many(histogram: Histogram, values: Sequence[float] | npt.NDArray[np.float64]) -> None:
    """`histogram.observe(v)` for every value, bucketed as arrays: one increment per bucket
    touched and one of the sum, instead of three locked increments and a Python step per value."""
    array = np.asarray(values, np.float64)
    if not len(array):
        return
    internals = _internals(histogram)
    amount = float(array.sum())
    if internals is None or amount != amount:
        for v in array.tolist():  # internals changed, or a NaN (which observe() puts in no bucket)
            histogram.observe(v)
        return
    bounds, buckets, total = internals
    # observe() picks the first bucket with v <= bound: searchsorted's left side, as bisect_left.
    counts = np.bincount(np.searchsorted(bounds, array, side="left"), minlength=len(bounds))
    for index in np.flatnonzero(counts).tolist():
        buckets[index].inc(int(counts[index]))
    total.inc(amount)


def observe_since(
    histogram: Histogram, now_ms: float, timestamps_ms: Iterable[Sequence[int]]
) -> None:
    """`histogram.observe(max(now_ms - t, 0) / 1000)` for every source timestamp `t` (ms) of the
    given batches: each event's seconds from its input record to now, computed as one array."""
    stamps = np.fromiter(chain.from_iterable(timestamps_ms), np.float64)
    observe_many(histogram, np.maximum(now_ms - stamps, 0.0) / 1000.0)


def observe_amortised(histogram: Histogram, seconds: float, count: int) -> None:
    """`count` observations of `seconds / count`: each event's share of work done once per batch."""
    if count <= 0:
        return
    internals = _internals(histogram)
    if internals is None or seconds != seconds:
        observe_many(histogram, [seconds / count] * count)
        return
    bounds, buckets, total = internals
    buckets[bisect_left(bounds, seconds / count)].inc(count)
    total.inc(seconds)


def scrape(port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> list[Sample]:
    """Every sample a service's /metrics exposes (for `make run`, benchmarks and tests)."""
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=timeout) as response:
        text = response.read().decode()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def total(samples: Sequence[Sample], name: str, **labels: str) -> float:
    """Sum of the samples called `name` whose labels include `labels`."""
    return sum(
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )

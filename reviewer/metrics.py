"""The app's Prometheus metrics, on a registry of its own (served at /metrics on the app's port).
The dashboard panels and the queue alert query exactly these names."""

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from schemas.feedback import FeedbackAction
from schemas.tags import APPROVED_TAGS

ACTIONS: tuple[FeedbackAction, ...] = ("confirm", "correct", "skip", "report")

# A decision takes seconds to minutes; a lease (default 5 min) bounds most of them.
DECISION_BUCKETS = (0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 120.0, 300.0)


class ReviewerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.queue_depth = Gauge(
            "tagger_review_queue_depth",
            "Review items not yet decided: the group's lag on the review topic, plus the items "
            "read and held (leased or not) and the reports waiting.",
            registry=r,
        )
        self.items_waiting_seconds = Gauge(
            "tagger_review_items_waiting_seconds",
            "Age of the oldest undecided item the app holds (since it entered the queue).",
            registry=r,
        )
        self.decisions = Counter(
            "tagger_review_decisions",
            "Feedback records written, by action (undo records are counted apart).",
            ["action"],
            registry=r,
        )
        self.corrections = Counter(
            "tagger_review_corrections",
            "Decisions that gave another tag than the model's, by the model's tag.",
            ["predicted_tag"],
            registry=r,
        )
        self.decision_seconds = Histogram(
            "tagger_review_decision_seconds",
            "From the item shown to the reviewer to the decision.",
            buckets=DECISION_BUCKETS,
            registry=r,
        )
        self.undos = Counter("tagger_review_undos", "Decisions withdrawn by undo.", registry=r)
        self.items_leased = Gauge(
            "tagger_review_items_leased", "Items leased to a reviewer right now.", registry=r
        )
        self.consumer_lag = Gauge(
            "tagger_review_consumer_lag",
            "Records on the review topic the app has not read yet (part of the queue depth).",
            registry=r,
        )
        self.invalid_records = Counter(
            "tagger_review_invalid_records",
            "Review-topic records that are no ClassifiedEvent (passed over, committed).",
            registry=r,
        )
        self.write_errors = Counter(
            "tagger_review_feedback_write_errors",
            "Feedback records not acknowledged in time (the request answered 503).",
            registry=r,
        )
        for action in ACTIONS:
            self.decisions.labels(action)
        for tag in APPROVED_TAGS:
            self.corrections.labels(tag)

    def watch(self, depth: Callable[[], float], waiting: Callable[[], float]) -> None:
        """Gauges computed at scrape time, so they are never stale between decisions."""
        self.queue_depth.set_function(depth)
        self.items_waiting_seconds.set_function(waiting)

"""The drift monitor: PSI of a sliding window of live answers against the artifact's reference
distributions, and the window's review share, on constructed traffic."""

import math

import numpy as np
import pytest

from consumer.drift import PSI_EPSILON, DriftMonitor, confidence_bins, psi
from consumer.metrics import Metrics
from inference.drift_reference import DEFAULT_EDGES, bin_index, confidence_histogram, tag_shares
from inference.predictor import Answers, Prediction
from schemas.artifact import ReferenceDistributions
from schemas.tags import APPROVED_TAGS

THRESHOLD = 0.5
# What the model's answers looked like on held-out data: mostly confident, a few "other".
REFERENCE_TAGS = {
    "natural-language-processing": 0.35,
    "computer-vision": 0.3,
    "mlops": 0.2,
    "other": 0.15,
}
REFERENCE_CONFIDENCE = [0.0, 0.0, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2, 0.25, 0.25]
# Drifted traffic: off-topic items the model is unsure about.
SHIFTED_TAGS = {
    "natural-language-processing": 0.15,
    "computer-vision": 0.1,
    "mlops": 0.1,
    "other": 0.65,
}
SHIFTED_CONFIDENCE = [0.0, 0.05, 0.15, 0.25, 0.2, 0.15, 0.1, 0.05, 0.03, 0.02]


def answer(tag: str, confidence: float) -> Prediction:
    return tag, confidence, {t: confidence if t == tag else 0.0 for t in APPROVED_TAGS}


def traffic(n: int, tags: dict[str, float], confidence: list[float], seed: int) -> list[Prediction]:
    """`n` answers drawn from the given tag shares and confidence-bin shares (uniform in a bin)."""
    rng = np.random.default_rng(seed)
    drawn_tags = rng.choice(list(tags), size=n, p=list(tags.values()))
    bins = rng.choice(len(confidence), size=n, p=confidence)
    lows = np.asarray(DEFAULT_EDGES[:-1])[bins]
    values = lows + rng.random(n) * 0.1
    return [answer(str(t), float(c)) for t, c in zip(drawn_tags, values, strict=True)]


def reference_of(answers: list[Prediction]) -> ReferenceDistributions:
    """Reference distributions computed the way training computes them."""
    return ReferenceDistributions(
        source="constructed",
        num_samples=len(answers),
        tag_share=tag_shares([a[0] for a in answers]),
        confidence_edges=list(DEFAULT_EDGES),
        confidence_share=confidence_histogram([a[1] for a in answers]),
    )


REFERENCE = ReferenceDistributions(
    source="constructed",
    num_samples=10_000,
    tag_share=REFERENCE_TAGS,
    confidence_edges=list(DEFAULT_EDGES),
    confidence_share=REFERENCE_CONFIDENCE,
)


def feed(monitor: DriftMonitor, answers: list[Prediction], batch: int = 250) -> None:
    for start in range(0, len(answers), batch):
        chunk = answers[start : start + batch]
        monitor.observe([("t", "d")] * len(chunk), chunk, THRESHOLD)


def exported(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


# ------------------------------------------------------------------------------------------ psi


def test_psi_of_identical_distributions_is_zero():
    assert psi([0.25, 0.25, 0.5], [0.25, 0.25, 0.5]) == 0.0


def test_psi_matches_a_hand_computation():
    # (0.5-0.4)ln(0.5/0.4) + (0.3-0.4)ln(0.3/0.4) + (0.2-0.2)ln(1)
    # = 0.1 * 0.2231436 + 0.1 * 0.2876821 = 0.0510826
    assert psi([0.5, 0.3, 0.2], [0.4, 0.4, 0.2]) == pytest.approx(0.0510826, abs=1e-7)


def test_psi_replaces_an_empty_bin_by_epsilon():
    # actual [1, 0] vs expected [0.5, 0.5]: the empty bin counts as 1e-4
    # = 0.5 ln(2) + (1e-4 - 0.5) ln(1e-4 / 0.5) = 0.3465736 + 4.2577449
    assert PSI_EPSILON == 1e-4
    assert psi([1.0, 0.0], [0.5, 0.5]) == pytest.approx(4.6043185, abs=1e-6)


def test_psi_ignores_a_bin_empty_on_both_sides():
    assert psi([0.5, 0.5, 0.0], [0.5, 0.5, 0.0]) == 0.0


def test_psi_is_symmetric():
    a, e = [0.7, 0.2, 0.1], [0.2, 0.3, 0.5]
    assert psi(a, e) == pytest.approx(psi(e, a))


def test_psi_refuses_different_bins():
    with pytest.raises(ValueError, match="same bins"):
        psi([0.5, 0.5], [0.2, 0.3, 0.5])


def test_batch_binning_is_the_references_binning():
    edges = np.asarray(DEFAULT_EDGES)
    values = [-0.1, 0.0, 0.05, 0.1, 0.0999999, 0.3, 0.5, 0.9, 0.95, 1.0, 1.0000001, 2.0]
    expected = [bin_index(v, DEFAULT_EDGES) for v in values]
    assert confidence_bins(np.asarray(values), edges).tolist() == expected


# ------------------------------------------------------------------------------- the monitor


def test_traffic_like_the_reference_has_psi_below_the_warning_threshold():
    metrics = Metrics()
    monitor = DriftMonitor(metrics, window_events=5000, min_events=500, reference=REFERENCE)
    feed(monitor, traffic(5000, REFERENCE_TAGS, REFERENCE_CONFIDENCE, seed=1))
    assert exported(metrics, "tagger_drift_psi", signal="tag_share") < 0.1
    assert exported(metrics, "tagger_drift_psi", signal="confidence") < 0.1


def test_shifted_traffic_has_psi_above_the_page_threshold():
    metrics = Metrics()
    monitor = DriftMonitor(metrics, window_events=5000, min_events=500, reference=REFERENCE)
    feed(monitor, traffic(5000, SHIFTED_TAGS, SHIFTED_CONFIDENCE, seed=2))
    assert exported(metrics, "tagger_drift_psi", signal="tag_share") > 0.25
    assert exported(metrics, "tagger_drift_psi", signal="confidence") > 0.25


def test_window_drawn_from_the_reference_sample_itself_has_psi_zero():
    answers = traffic(1000, REFERENCE_TAGS, REFERENCE_CONFIDENCE, seed=3)
    metrics = Metrics()
    monitor = DriftMonitor(
        metrics, window_events=1000, min_events=100, reference=reference_of(answers)
    )
    feed(monitor, answers)
    assert exported(metrics, "tagger_drift_psi", signal="tag_share") == pytest.approx(0.0)
    assert exported(metrics, "tagger_drift_psi", signal="confidence") == pytest.approx(0.0)


def test_statistics_are_nan_until_the_window_holds_min_events():
    metrics = Metrics()
    monitor = DriftMonitor(metrics, window_events=5000, min_events=500, reference=REFERENCE)
    feed(monitor, traffic(499, SHIFTED_TAGS, SHIFTED_CONFIDENCE, seed=4), batch=499)
    assert math.isnan(exported(metrics, "tagger_drift_psi", signal="tag_share"))
    assert math.isnan(exported(metrics, "tagger_review_share"))
    assert exported(metrics, "tagger_drift_window_events") == 499
    feed(monitor, traffic(1, SHIFTED_TAGS, SHIFTED_CONFIDENCE, seed=5))
    assert exported(metrics, "tagger_drift_psi", signal="tag_share") > 0.25


def test_the_window_slides_so_old_batches_leave():
    metrics = Metrics()
    monitor = DriftMonitor(metrics, window_events=2000, min_events=500, reference=REFERENCE)
    feed(monitor, traffic(2000, SHIFTED_TAGS, SHIFTED_CONFIDENCE, seed=6))
    assert exported(metrics, "tagger_drift_psi", signal="confidence") > 0.25
    feed(monitor, traffic(2000, REFERENCE_TAGS, REFERENCE_CONFIDENCE, seed=7))
    assert exported(metrics, "tagger_drift_psi", signal="confidence") < 0.1
    assert exported(metrics, "tagger_drift_psi", signal="tag_share") < 0.1


def test_the_window_keeps_the_newest_batches_covering_window_events():
    monitor = DriftMonitor(Metrics(), window_events=1000, min_events=100, reference=REFERENCE)
    answers = traffic(3000, REFERENCE_TAGS, REFERENCE_CONFIDENCE, seed=8)
    feed(monitor, answers, batch=300)
    # 10 batches of 300: the newest 4 hold 1200 >= 1000, the newest 3 only 900
    assert monitor.window_size == 1200


def test_review_share_is_the_windows_share_below_the_threshold():
    metrics = Metrics()
    monitor = DriftMonitor(metrics, window_events=1000, min_events=10)
    confident, unsure = answer("mlops", 0.9), answer("other", 0.3)
    monitor.observe([("t", "d")] * 100, [unsure] * 25 + [confident] * 75, THRESHOLD)
    assert exported(metrics, "tagger_review_share") == pytest.approx(0.25)


def test_an_answer_at_the_threshold_is_not_review():
    metrics = Metrics()
    monitor = DriftMonitor(metrics, window_events=100, min_events=10)
    monitor.observe([("t", "d")] * 10, [answer("mlops", THRESHOLD)] * 10, THRESHOLD)
    assert exported(metrics, "tagger_review_share") == 0.0


def test_without_a_reference_no_psi_is_exported_but_review_share_is():
    metrics = Metrics()
    monitor = DriftMonitor(metrics, window_events=1000, min_events=10)
    feed(monitor, traffic(100, REFERENCE_TAGS, REFERENCE_CONFIDENCE, seed=9))
    assert exported(metrics, "tagger_drift_psi", signal="tag_share") is None
    assert exported(metrics, "tagger_drift_psi", signal="confidence") is None
    assert exported(metrics, "tagger_review_share") is not None


def test_use_of_a_new_reference_empties_the_window():
    metrics = Metrics()
    monitor = DriftMonitor(metrics, window_events=1000, min_events=100, reference=REFERENCE)
    feed(monitor, traffic(1000, SHIFTED_TAGS, SHIFTED_CONFIDENCE, seed=10))
    monitor.use(REFERENCE)
    assert monitor.window_size == 0
    assert exported(metrics, "tagger_drift_window_events") == 0
    assert math.isnan(exported(metrics, "tagger_drift_psi", signal="tag_share"))


def test_use_of_none_removes_the_psi_series_and_keeps_the_review_share():
    metrics = Metrics()
    monitor = DriftMonitor(metrics, window_events=1000, min_events=100, reference=REFERENCE)
    feed(monitor, traffic(1000, SHIFTED_TAGS, SHIFTED_CONFIDENCE, seed=11))
    monitor.use(None)
    assert exported(metrics, "tagger_drift_psi", signal="confidence") is None
    feed(monitor, traffic(1000, SHIFTED_TAGS, SHIFTED_CONFIDENCE, seed=12))
    assert exported(metrics, "tagger_drift_psi", signal="confidence") is None
    assert exported(metrics, "tagger_review_share") > 0.5


def test_min_events_above_the_window_is_refused():
    with pytest.raises(ValueError, match="min_events"):
        DriftMonitor(Metrics(), window_events=100, min_events=500)


def test_a_batch_kept_as_a_matrix_is_counted_as_its_answers_are():
    rows = np.random.default_rng(3).random((400, len(APPROVED_TAGS)), dtype=np.float32)
    kept = Answers(rows, APPROVED_TAGS)
    as_matrix, as_tuples = Metrics(), Metrics()
    for metrics, answers in ((as_matrix, kept), (as_tuples, list(kept))):
        monitor = DriftMonitor(metrics, window_events=1000, min_events=100, reference=REFERENCE)
        monitor.observe([("t", "d")] * len(rows), answers, THRESHOLD)
    for name in ("tagger_drift_psi", "tagger_review_share", "tagger_drift_window_events"):
        samples = [
            [(s.labels, s.value) for s in family.samples]
            for metrics in (as_matrix, as_tuples)
            for family in metrics.registry.collect()
            if family.name == name
        ]
        assert samples[0] == samples[1] and samples[0]

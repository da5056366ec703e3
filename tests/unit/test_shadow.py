"""The shadow challenger: scored on live batches beside the serving model, compared and counted,
never routed, and never able to break the batch it observes."""

import dataclasses
from collections.abc import Sequence

import pytest

from consumer.drift import DriftMonitor
from consumer.metrics import Metrics
from consumer.pipeline import BatchObserver, Pipeline
from consumer.shadow import ShadowScorer, challenger_uri
from inference.artifact import Artifact
from inference.predictor import Prediction
from schemas.topics import DEFAULT_TOPICS
from tests.support.records import FakeRecord, event
from tests.support.stub import CONFIDENT, THRESHOLD, UNSURE, KeywordPredictor, stub_artifact

FLIP = "flip"
"""A word in a title on which the challenger answers "other" where the champion may not."""


class FlippingPredictor(KeywordPredictor):
    """The keyword model, except that it answers "other" for any title holding `FLIP`, and
    remembers every pair it was asked about."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str]] = []

    def predict_normalised(self, pairs: Sequence[tuple[str, str]]) -> list[Prediction]:
        self.seen.extend(pairs)
        answers = super().predict_normalised(pairs)
        return [
            ("other", UNSURE, a[2]) if FLIP in title.split() else a
            for (title, _), a in zip(pairs, answers, strict=True)
        ]


class BrokenPredictor(KeywordPredictor):
    def predict_normalised(self, pairs: Sequence[tuple[str, str]]) -> list[Prediction]:
        raise RuntimeError("challenger model file is corrupt")


class ShortPredictor(KeywordPredictor):
    def predict_normalised(self, pairs: Sequence[tuple[str, str]]) -> list[Prediction]:
        return super().predict_normalised(pairs)[:-1]


class MalformedPredictor(KeywordPredictor):
    def predict_normalised(self, pairs: Sequence[tuple[str, str]]) -> list[Prediction]:
        return [("mlops", None, {})] * len(pairs)  # type: ignore[list-item]


def challenger(
    predictor: KeywordPredictor, version: str = "challenger-2", threshold: float = THRESHOLD
) -> Artifact:
    base = stub_artifact(threshold)
    meta = base.meta.model_copy(update={"version": version})
    return dataclasses.replace(base, meta=meta, classifier=predictor)


def batch(n: int, flipped: int = 0) -> tuple[list[tuple[str, str]], list[Prediction]]:
    """`n` vision events, the first `flipped` of which the flipping challenger disagrees on, with
    the champion's (keyword model's) answers."""
    pairs = [
        (f"{FLIP} yolo {i}" if i < flipped else f"yolo {i}", "image detection") for i in range(n)
    ]
    return pairs, KeywordPredictor().predict_normalised(pairs)


def value(metrics: Metrics, name: str, **labels: str) -> float:
    sample = metrics.registry.get_sample_value(name, labels)
    return 0.0 if sample is None else sample


def scored(metrics: Metrics) -> float:
    return value(metrics, "tagger_shadow_agreement_total", result="agree") + value(
        metrics, "tagger_shadow_agreement_total", result="disagree"
    )


def test_agreement_counts_the_events_where_the_challenger_answers_otherwise():
    metrics = Metrics()
    scorer = ShadowScorer(metrics, challenger=challenger(FlippingPredictor()))
    scorer.observe(*batch(10, flipped=3), THRESHOLD)
    assert value(metrics, "tagger_shadow_agreement_total", result="agree") == 7
    assert value(metrics, "tagger_shadow_agreement_total", result="disagree") == 3


def test_per_tag_counts_are_kept_for_both_models_with_each_models_route():
    metrics = Metrics()
    scorer = ShadowScorer(metrics, challenger=challenger(FlippingPredictor()))
    scorer.observe(*batch(10, flipped=3), THRESHOLD)
    tags = "tagger_shadow_tags_total"
    assert value(metrics, tags, model="champion", tag="computer-vision", route="tagged") == 10
    assert value(metrics, tags, model="challenger", tag="computer-vision", route="tagged") == 7
    assert value(metrics, tags, model="challenger", tag="other", route="review") == 3
    assert value(metrics, tags, model="champion", tag="other", route="review") == 0


def test_each_model_is_routed_at_its_own_threshold():
    metrics = Metrics()
    strict = challenger(FlippingPredictor(), threshold=0.95)  # above CONFIDENT: all review
    ShadowScorer(metrics, challenger=strict).observe(*batch(4), THRESHOLD)
    tags = "tagger_shadow_tags_total"
    assert value(metrics, tags, model="challenger", tag="computer-vision", route="review") == 4
    assert value(metrics, tags, model="champion", tag="computer-vision", route="tagged") == 4


def test_confidence_histograms_hold_both_models_answers():
    metrics = Metrics()
    scorer = ShadowScorer(metrics, challenger=challenger(FlippingPredictor()))
    scorer.observe(*batch(10, flipped=3), THRESHOLD)
    histogram = "tagger_shadow_confidence"
    assert value(metrics, f"{histogram}_count", model="champion") == 10
    assert value(metrics, f"{histogram}_sum", model="champion") == pytest.approx(10 * CONFIDENT)
    assert value(metrics, f"{histogram}_sum", model="challenger") == pytest.approx(
        7 * CONFIDENT + 3 * UNSURE
    )
    assert value(metrics, f"{histogram}_bucket", model="challenger", le="0.5") == 3


def test_the_challengers_version_is_exported():
    metrics = Metrics()
    ShadowScorer(metrics, challenger=challenger(FlippingPredictor(), version="v7"))
    assert value(metrics, "tagger_shadow_challenger_info", version="v7") == 1


def test_share_one_scores_every_event_in_one_call_per_batch():
    predictor = FlippingPredictor()
    scorer = ShadowScorer(Metrics(), share=1.0, challenger=challenger(predictor))
    scorer.observe(*batch(50), THRESHOLD)
    scorer.observe(*batch(30), THRESHOLD)
    assert predictor.calls == [50, 30]


def test_a_share_scores_about_that_share_of_events():
    metrics = Metrics()
    scorer = ShadowScorer(metrics, share=0.3, seed=1, challenger=challenger(FlippingPredictor()))
    for _ in range(10):
        scorer.observe(*batch(1000), THRESHOLD)
    assert 2700 <= scored(metrics) <= 3300  # binomial(10000, 0.3): sd 46
    assert value(metrics, "tagger_shadow_confidence_count", model="champion") == scored(metrics)


def test_sampling_with_a_seed_picks_the_same_events():
    first, second = FlippingPredictor(), FlippingPredictor()
    for predictor in (first, second):
        scorer = ShadowScorer(Metrics(), share=0.2, seed=42, challenger=challenger(predictor))
        for _ in range(3):
            scorer.observe(*batch(100), THRESHOLD)
    assert first.seen == second.seen
    assert 0 < len(first.seen) < 300


def test_sampled_events_are_compared_with_the_champions_answer_for_the_same_event():
    metrics = Metrics()
    scorer = ShadowScorer(metrics, share=0.5, seed=3, challenger=challenger(FlippingPredictor()))
    scorer.observe(*batch(200, flipped=200), THRESHOLD)
    assert value(metrics, "tagger_shadow_agreement_total", result="agree") == 0
    assert scored(metrics) > 0


def test_share_zero_scores_nothing():
    predictor = FlippingPredictor()
    ShadowScorer(Metrics(), share=0.0, challenger=challenger(predictor)).observe(
        *batch(100), THRESHOLD
    )
    assert predictor.calls == []


def test_a_challenger_that_raises_is_counted_not_raised():
    metrics = Metrics()
    scorer = ShadowScorer(metrics, challenger=challenger(BrokenPredictor()))
    scorer.observe(*batch(10), THRESHOLD)
    scorer.observe(*batch(10), THRESHOLD)
    assert value(metrics, "tagger_shadow_failures_total") == 2
    assert scored(metrics) == 0
    assert value(metrics, "tagger_shadow_confidence_count", model="champion") == 0


def test_a_challenger_answering_too_few_events_is_a_failure():
    metrics = Metrics()
    ShadowScorer(metrics, challenger=challenger(ShortPredictor())).observe(*batch(10), THRESHOLD)
    assert value(metrics, "tagger_shadow_failures_total") == 1
    assert scored(metrics) == 0


def test_a_challenger_with_malformed_answers_is_a_failure_and_counts_nothing():
    metrics = Metrics()
    scorer = ShadowScorer(metrics, challenger=challenger(MalformedPredictor()))
    scorer.observe(*batch(10), THRESHOLD)
    assert value(metrics, "tagger_shadow_failures_total") == 1
    assert value(metrics, "tagger_shadow_confidence_count", model="champion") == 0


def test_scoring_resumes_when_a_working_challenger_replaces_a_broken_one():
    metrics = Metrics()
    scorer = ShadowScorer(metrics, challenger=challenger(BrokenPredictor()))
    scorer.observe(*batch(10), THRESHOLD)
    scorer.use(challenger(FlippingPredictor()))
    scorer.observe(*batch(10), THRESHOLD)
    assert value(metrics, "tagger_shadow_failures_total") == 1
    assert scored(metrics) == 10


def test_use_none_stops_shadow_scoring_and_removes_the_challenger_info():
    metrics = Metrics()
    predictor = FlippingPredictor()
    scorer = ShadowScorer(metrics, challenger=challenger(predictor, version="v7"))
    scorer.observe(*batch(10), THRESHOLD)
    scorer.use(None)
    scorer.observe(*batch(10), THRESHOLD)
    assert predictor.calls == [10]
    assert scored(metrics) == 10
    assert (
        metrics.registry.get_sample_value("tagger_shadow_challenger_info", {"version": "v7"})
        is None
    )


def test_without_a_challenger_nothing_is_scored():
    metrics = Metrics()
    ShadowScorer(metrics).observe(*batch(10), THRESHOLD)
    assert scored(metrics) == 0


def test_a_share_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="share"):
        ShadowScorer(Metrics(), share=1.5)


class NoDuplicates:
    def check(
        self, fingerprints: Sequence[str], ids: Sequence[str], positions: Sequence[str]
    ) -> list[str | None]:
        return [None] * len(fingerprints)


def test_a_pipeline_routes_the_same_with_a_disagreeing_or_broken_challenger():
    records = [
        FakeRecord(event(i, f"{FLIP} yolo" if i % 2 else "bert tokens", "x"), offset=i)
        for i in range(20)
    ]

    def routed(*observers: BatchObserver) -> list[tuple[str, str, str | None]]:
        pipeline = Pipeline(
            stub_artifact(),
            NoDuplicates(),
            DEFAULT_TOPICS,
            Metrics(),
            100_000,
            observers=observers,
        )
        return [(o.topic, o.outcome, o.label) for o in pipeline.process(records)]

    metrics = Metrics()
    flipping = ShadowScorer(metrics, challenger=challenger(FlippingPredictor()))
    broken = ShadowScorer(Metrics(), challenger=challenger(BrokenPredictor()))
    drift = DriftMonitor(Metrics(), window_events=100, min_events=10)
    assert routed(flipping, broken, drift) == routed()
    assert value(metrics, "tagger_shadow_agreement_total", result="disagree") == 10


# ------------------------------------------------------------------ where the challenger comes from


def test_the_challenger_defaults_to_the_challenger_alias_of_a_champion_uri():
    assert challenger_uri(None, "models:/content-tagger@champion") == (
        "models:/content-tagger@challenger"
    )


def test_an_explicit_shadow_uri_wins():
    assert challenger_uri("/models/candidate", "models:/content-tagger@champion") == (
        "/models/candidate"
    )


def test_an_empty_shadow_uri_disables_the_challenger():
    assert challenger_uri("", "models:/content-tagger@champion") is None


@pytest.mark.parametrize(
    "model_uri",
    [None, "artifacts/model", "models:/content-tagger/3", "models:/content-tagger@prod"],
)
def test_no_default_challenger_without_a_champion_alias(model_uri):
    assert challenger_uri(None, model_uri) is None


def test_both_models_series_are_exported_at_zero_before_any_event():
    metrics = Metrics()
    for model in ("champion", "challenger"):
        labels = {"model": model, "tag": "other", "route": "review"}
        assert metrics.registry.get_sample_value("tagger_shadow_tags_total", labels) == 0.0
    assert value(metrics, "tagger_shadow_agreement_total", result="disagree") == 0.0

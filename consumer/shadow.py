"""The shadow challenger: a candidate model scored on live traffic beside the serving one.

`ShadowScorer` is a `consumer.pipeline.BatchObserver`. For each batch it asks the challenger (the
registry's `challenger` alias, see `challenger_uri`) about a share of the fresh events in one call,
and exports, for those same events and both models: agreement on the top tag, per-tag counts with
the route each model's own threshold would give, and the confidence distribution. Nothing the
challenger answers is routed or published, and a challenger that fails is counted and logged,
never raised, so a bad candidate cannot disturb the service. A promotion can then be decided on
live traffic: the dashboard's "Model lifecycle" row shows both side by side.
"""

import logging
import operator
import time
from collections import Counter as Tally
from collections.abc import Sequence
from itertools import compress

import numpy as np
from prometheus_client import Counter

from consumer.metrics import Metrics, observe_amortised, observe_many
from inference.artifact import Artifact
from inference.predictor import Prediction
from schemas.tags import APPROVED_TAGS

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"


def challenger_uri(shadow_model_uri: str | None, model_uri: str | None) -> str | None:
    """Where the challenger comes from: SHADOW_MODEL_URI when set (empty: no challenger), else the
    `challenger` alias of a `models:/<name>@champion` MODEL_URI, else none.

    :param shadow_model_uri: the SHADOW_MODEL_URI setting (None when unset).
    :param model_uri: the MODEL_URI setting (None when unset).
    """
    if shadow_model_uri is not None:
        return shadow_model_uri.strip() or None
    if model_uri is not None:
        base, alias_sep, alias = model_uri.strip().rpartition("@")
        if alias_sep and alias == CHAMPION and base.startswith("models:/") and base != "models:/":
            return f"{base}@{CHALLENGER}"
    return None


class ShadowScorer:
    """Scores a share of each batch with the challenger and exports the comparison with the
    serving model (`tagger_shadow_*`); idle until `use` hands it a challenger.

    Sampling is one vectorised draw per batch (numpy), so share < 1 costs no per-event Python
    beyond picking the sampled pairs.

    :param metrics: where the `tagger_shadow_*` series are kept.
    :param share: the share of each batch's fresh events the challenger scores, in [0, 1];
        1.0 scores all of them (no draw), 0 none.
    :param seed: seeds the sampling, so a test (or a replay) samples the same events.
    :param challenger: the challenger artifact to start with (see `use`).
    """

    def __init__(
        self,
        metrics: Metrics,
        share: float = 1.0,
        seed: int | None = None,
        challenger: Artifact | None = None,
    ) -> None:
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"the shadow share must be in [0, 1], got {share}")
        self._metrics = metrics
        self._share = share
        self._rng = np.random.default_rng(seed)
        self._challenger: Artifact | None = None
        self._failing = False
        self._agree = metrics.shadow_agreement.labels("agree")
        self._disagree = metrics.shadow_agreement.labels("disagree")
        self._confidence = {
            model: metrics.shadow_confidence.labels(model) for model in (CHAMPION, CHALLENGER)
        }
        # Children looked up once: `labels()` costs microseconds, and a batch increments ~16.
        self._tag_counters = {
            (model, tag, route): metrics.shadow_tags.labels(model, tag, route)
            for model in (CHAMPION, CHALLENGER)
            for tag in APPROVED_TAGS
            for route in ("tagged", "review")
        }
        self.use(challenger)

    @property
    def challenger(self) -> Artifact | None:
        """The artifact scored in the shadow now, if any."""
        return self._challenger

    def use(self, challenger: Artifact | None) -> None:
        """Score with `challenger` from the next batch on (None: stop shadow scoring). A single
        attribute swap, so the reload watcher may call it from its own thread."""
        info = self._metrics.shadow_challenger_info
        info.clear()
        if challenger is not None:
            info.labels(challenger.version).set(1)
        self._failing = False
        self._challenger = challenger
        log.info(
            "shadow challenger set" if challenger is not None else "no shadow challenger",
            extra={"challenger_version": challenger.version if challenger is not None else None},
        )

    def observe(
        self,
        pairs: Sequence[tuple[str, str]],
        predictions: Sequence[Prediction],
        threshold: float,
    ) -> None:
        """Score the batch's sampled events with the challenger and count both models' answers.
        Never raises for the challenger's sake.

        :param pairs: the fresh events' normalised (title, description), as the champion saw them.
        :param predictions: the champion's answers, in the same order.
        :param threshold: the champion's review threshold.
        """
        challenger = self._challenger  # read once: `use` may swap it meanwhile
        if challenger is None or not pairs or self._share <= 0.0:
            return
        if self._share >= 1.0:
            sampled_pairs, champion = pairs, predictions
        else:
            picked = np.flatnonzero(self._rng.random(len(pairs)) < self._share).tolist()
            if not picked:
                return
            sampled_pairs = [pairs[i] for i in picked]
            champion = [predictions[i] for i in picked]
        try:
            started = time.perf_counter()
            answers = challenger.classifier.predict_normalised(sampled_pairs)
            elapsed = time.perf_counter() - started
            if len(answers) != len(sampled_pairs):
                raise RuntimeError(f"{len(answers)} answers for {len(sampled_pairs)} events")
            # Everything read off the challenger's answers is read here, so a malformed one is a
            # counted failure too, before either model's series move.
            challenger_tags = [str(a[0]) for a in answers]
            challenger_confidences = [float(a[1]) for a in answers]
        except Exception:
            self._metrics.shadow_failures.inc()
            # Every failure is counted; the traceback is logged once per run of failures, not
            # once per batch.
            log.log(
                logging.DEBUG if self._failing else logging.WARNING,
                "the shadow challenger failed to score a batch; routing is unaffected",
                extra={"challenger_version": challenger.version, "events": len(sampled_pairs)},
                exc_info=True,
            )
            self._failing = True
            return
        if self._failing:
            log.info(
                "the shadow challenger scores again",
                extra={"challenger_version": challenger.version},
            )
            self._failing = False
        observe_amortised(self._metrics.shadow_classification_seconds, elapsed, len(answers))
        champion_tags = [c[0] for c in champion]
        agreed = sum(map(operator.eq, champion_tags, challenger_tags))
        self._agree.inc(agreed)
        self._disagree.inc(len(answers) - agreed)
        self._count(CHAMPION, champion_tags, [c[1] for c in champion], threshold)
        self._count(CHALLENGER, challenger_tags, challenger_confidences, challenger.threshold)

    def _count(
        self, model: str, tags: list[str], confidences: list[float], threshold: float
    ) -> None:
        """Per-tag and per-route counts and the confidence histogram of one model's answers.
        The counting runs in C (`collections.Counter` over strings, numpy for the routes), then
        one increment per distinct (tag, route)."""
        # The pipeline's routing rule: review below the threshold, tagged at or above it.
        below = (np.asarray(confidences, dtype=np.float64) < threshold).tolist()
        review = Tally(compress(tags, below))
        for tag, count in Tally(tags).items():
            to_review = review.get(tag, 0)
            if to_review:
                self._tag_counter(model, tag, "review").inc(to_review)
            if count > to_review:
                self._tag_counter(model, tag, "tagged").inc(count - to_review)
        observe_many(self._confidence[model], confidences)

    def _tag_counter(self, model: str, tag: str, route: str) -> Counter:
        counter = self._tag_counters.get((model, tag, route))
        if counter is None:  # a tag outside the approved set: its own series
            counter = self._metrics.shadow_tags.labels(model, tag, route)
        return counter


__all__ = ["CHALLENGER", "CHAMPION", "ShadowScorer", "challenger_uri"]

"""The model behind every prediction: an ensemble of fastText models answered by the compiled batch
path (`BatchPredictor`), the service's default `Predictor`.

fastText itself still loads the models and defines every token's rows; `ReferencePredictor`
(fastText's own per-line call) is the oracle the parity tests hold this path to.
"""

from collections.abc import Sequence
from itertools import chain
from math import inf
from pathlib import Path

import fasttext
import fasttext.FastText
import numpy as np

from inference.batch_predict import BatchPredictor
from inference.predictor import (
    LABEL_PREFIX,
    Answers,
    Prediction,
    ReferencePredictor,
    blend,
    canonical_labels,
)
from inference.text import (
    DESCRIPTION,
    FIELD_END,
    FULL_VIEW,
    STOPWORDS,
    Views,
    batch_utf8,
    normalise_text,
    normalised_batch_utf8,
    views_normalised,
)

# load_model() prints a deprecation warning to stderr on every load; it is noise in JSON logs.
fasttext.FastText.eprint = lambda *args, **kwargs: None


class Classifier:
    """fastText models whose probabilities are averaged, over two views of each event; answers with
    approved tags.

    Members differ in what they see (word n-grams only, or character n-grams too), so their errors
    partly cancel. Each event is scored on its full view (title twice + description) and on its
    description alone, blended `1 : description_weight`: the full view leans on the title, and the
    blend evens that out. Both choices were made by repeated cross-validation (model card).
    """

    __slots__ = ("_description_weight", "_models", "_predictor", "labels")

    def __init__(
        self, models: Sequence["fasttext.FastText._FastText"], description_weight: float = 0.0
    ) -> None:
        if not models:
            raise ValueError("a classifier needs at least one model")
        if not 0.0 <= description_weight < inf:
            raise ValueError(
                f"description_weight must be finite and >= 0, not {description_weight}"
            )
        self._models = tuple(models)
        self._description_weight = description_weight
        raw_labels = canonical_labels(self._models[0].get_labels())
        for model in self._models[1:]:
            if sorted(model.get_labels()) != sorted(raw_labels):
                raise ValueError("ensemble members disagree on their labels")
        self.labels: tuple[str, ...] = tuple(
            label.removeprefix(LABEL_PREFIX) for label in raw_labels
        )
        self._predictor = BatchPredictor(
            self._models, raw_labels, skipped=STOPWORDS, line_end=FIELD_END
        )

    @classmethod
    def from_files(cls, paths: Sequence[Path], description_weight: float = 0.0) -> "Classifier":
        return cls([fasttext.load_model(str(p)) for p in paths], description_weight)

    @property
    def fasttext_models(self) -> tuple["fasttext.FastText._FastText", ...]:
        return self._models

    @property
    def description_weight(self) -> float:
        return self._description_weight

    def reference(self) -> ReferencePredictor:
        """The same models answered by fastText's own per-line call (the parity oracle)."""
        return ReferencePredictor(self._models, self._description_weight)

    def predict_normalised(self, pairs: Sequence[tuple[str, str]]) -> Answers:
        """Per normalised (title, description) pair: top tag, its probability and every label's
        probability (approved-tag order). One model call for the batch, both views included."""
        if self._few(len(pairs)):
            return self._predict_views([views_normalised(t, d) for t, d in pairs])
        return self._predict_fields(batch_utf8([*chain.from_iterable(pairs)]), len(pairs))

    def predict_normalised_utf8(self, batch: bytes, events: int) -> Answers | None:
        """`predict_normalised` of the fields `text.normalised_batch` cut from `batch` (its buffer),
        read from the buffer rather than encoded again; None when `events` are too few for the
        batch path, whose answers `predict_normalised` then gives from the fields themselves."""
        if self._few(events):
            return None
        return self._predict_fields(batch, events)

    def predict_many(self, pairs: Sequence[tuple[str, str]]) -> Answers:
        """Predictions for raw (title, description) pairs."""
        if self._few(len(pairs)):
            views = [views_normalised(normalise_text(t), normalise_text(d)) for t, d in pairs]
            return self._predict_views(views)
        return self._predict_fields(
            normalised_batch_utf8([*chain.from_iterable(pairs)]), len(pairs)
        )

    def predict(self, title: str, description: str) -> Prediction:
        return self.predict_many([(title, description)])[0]

    def _few(self, events: int) -> bool:
        """Too few lines for the array path to pay for itself (see `BatchPredictor`)."""
        return events * (2 if self._description_weight else 1) < self._predictor.min_batch

    def _predict_views(self, views: Sequence[Views]) -> Answers:
        lines = [v.full for v in views]
        if self._description_weight:
            lines += [v.description for v in views]
        has_description = np.array([bool(v.description) for v in views])
        return self._answers(self._blend(self._predictor.predict_each(lines), has_description))

    def _predict_fields(self, batch: bytes, events: int) -> Answers:
        """Predictions from a `batch_utf8` (or `normalised_batch_utf8`) of each event's title and
        description.

        The views are assembled as id arrays: tokens are looked up once, however many views use
        them, and no per-event lists are built.
        """
        ids = self._predictor.ids(batch)
        ids = ids[ids >= 0]  # stopwords
        ends = np.flatnonzero(ids == self._predictor.eos_id)
        if len(ends) != 2 * events:
            raise ValueError(f"{2 * events} fields expected, {len(ends)} found: not normalised")
        starts = np.zeros_like(ends)
        starts[1:] = ends[:-1] + 1
        field_start, field_len = starts.reshape(events, 2), (ends - starts).reshape(events, 2)
        # A line ends with the end marker of its last field, which the ids hold as </s>.
        segment_start, segment_len = field_start[:, FULL_VIEW], field_len[:, FULL_VIEW]
        segment_len[:, -1] += 1
        line_len = segment_len.sum(axis=1)
        if self._description_weight:
            description_start = field_start[:, DESCRIPTION]
            description_len = field_len[:, DESCRIPTION] + 1
            segment_start = np.concatenate([segment_start.ravel(), description_start])
            segment_len = np.concatenate([segment_len.ravel(), description_len])
            line_len = np.concatenate([line_len, description_len])
        lines = ids[_concatenated_ranges(segment_start.ravel(), segment_len.ravel())]
        probabilities = self._predictor.predict_ids(lines, line_len)
        return self._answers(self._blend(probabilities, field_len[:, DESCRIPTION] > 0))

    def _blend(self, probabilities: np.ndarray, has_description: np.ndarray) -> np.ndarray:
        return blend(probabilities, has_description, self._description_weight)

    def _answers(self, probabilities: np.ndarray) -> Answers:
        return Answers(probabilities, self.labels)


def _concatenated_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """np.concatenate([np.arange(s, s + n) for s, n in zip(starts, lengths)]), without the loop."""
    offsets = np.cumsum(lengths) - lengths
    return np.arange(lengths.sum()) + np.repeat(starts - offsets, lengths)

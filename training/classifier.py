"""The model behind every prediction: training evaluation, calibration, the CLI and the service.

Predictions go through `BatchPredictor` (NumPy over the fastText matrices), not fastText's Python
`predict()`: that one answers a line per call (~4 µs per member) and, in fasttext 0.9.3, ends in
`np.array(probs, copy=False)`, which NumPy 2 rejects. fastText itself still loads the models and
defines every token's rows, and a test holds the two to the same numbers.
"""

from collections.abc import Sequence
from math import inf
from pathlib import Path

import fasttext
import fasttext.FastText
import numpy as np

from schemas.tags import APPROVED_TAGS
from training.batch_predict import BatchPredictor
from training.text import normalise_text, views_normalised

LABEL_PREFIX = "__label__"

# load_model() prints a deprecation warning to stderr on every load; it is noise in JSON logs.
fasttext.FastText.eprint = lambda *args, **kwargs: None

Prediction = tuple[str, float, dict[str, float]]


class Classifier:
    """fastText models whose probabilities are averaged, over two views of each event; answers with
    approved tags.

    The default artifact holds two members, one on word n-grams and one also on character n-grams:
    their average scored +0.013 weighted F1 over either alone in 5x3 cross-validation. Each event is
    scored on its full view (title twice + description) and on its description alone, blended
    `1 : description_weight`: the full view leans on the title, and the blend evened that out for
    +0.007 weighted F1 (5x3 CV, paired, over three training seeds and two further fold seeds).
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
        order = {f"{LABEL_PREFIX}{tag}": i for i, tag in enumerate(APPROVED_TAGS)}
        # Approved tags in their canonical order, so every probabilities dict reads the same way.
        raw_labels = sorted(self._models[0].get_labels(), key=lambda x: (order.get(x, 99), x))
        for model in self._models[1:]:
            if sorted(model.get_labels()) != sorted(raw_labels):
                raise ValueError("ensemble members disagree on their labels")
        self.labels: tuple[str, ...] = tuple(
            label.removeprefix(LABEL_PREFIX) for label in raw_labels
        )
        self._predictor = BatchPredictor(self._models, raw_labels)

    @classmethod
    def from_files(cls, paths: Sequence[Path], description_weight: float = 0.0) -> "Classifier":
        return cls([fasttext.load_model(str(p)) for p in paths], description_weight)

    @property
    def fasttext_models(self) -> tuple["fasttext.FastText._FastText", ...]:
        return self._models

    @property
    def description_weight(self) -> float:
        return self._description_weight

    def predict_normalised(self, pairs: Sequence[tuple[str, str]]) -> list[Prediction]:
        """Per normalised (title, description) pair: top tag, its probability and every label's
        probability (approved-tag order). One model call for the batch, both views included."""
        weight = self._description_weight
        if not weight:
            probabilities = self._predictor.predict([views_normalised(*p).full for p in pairs])
            return self._answers(probabilities)
        lines: list[list[str]] = []
        weights: list[float] = []
        for title, description in pairs:
            full, _, description_words = views_normalised(title, description)
            lines += (full, description_words)
            weights.append(weight if description_words else 0.0)
        both = self._predictor.predict(lines)
        w = np.array(weights, np.float32)[:, None]
        return self._answers((both[0::2] + w * both[1::2]) / (1.0 + w))

    def predict_many(self, pairs: Sequence[tuple[str, str]]) -> list[Prediction]:
        """Predictions for raw (title, description) pairs."""
        return self.predict_normalised([(normalise_text(t), normalise_text(d)) for t, d in pairs])

    def predict(self, title: str, description: str) -> Prediction:
        return self.predict_many([(title, description)])[0]

    def _answers(self, probabilities: np.ndarray) -> list[Prediction]:
        best = probabilities.argmax(axis=1).tolist()
        labels = self.labels
        return [
            (labels[i], row[i], dict(zip(labels, row, strict=True)))
            for i, row in zip(best, probabilities.tolist(), strict=True)
        ]

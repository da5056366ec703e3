"""The model behind every prediction: training evaluation, calibration, the CLI and the service.

Predictions go through `BatchPredictor` (NumPy over the fastText matrices), not fastText's Python
`predict()`: that one answers a line per call (~4 µs per member) and, in fasttext 0.9.3, ends in
`np.array(probs, copy=False)`, which NumPy 2 rejects. fastText itself still loads the models and
defines every token's rows, and a test holds the two to the same numbers.
"""

from collections.abc import Sequence
from pathlib import Path

import fasttext
import fasttext.FastText

from schemas.tags import APPROVED_TAGS
from training.batch_predict import BatchPredictor
from training.text import model_tokens

LABEL_PREFIX = "__label__"

# load_model() prints a deprecation warning to stderr on every load; it is noise in JSON logs.
fasttext.FastText.eprint = lambda *args, **kwargs: None

Prediction = tuple[str, float, dict[str, float]]


class Classifier:
    """One or more fastText models whose probabilities are averaged; answers with approved tags.

    The default artifact holds two members, one on word n-grams and one also on character n-grams:
    their average scored +0.013 weighted F1 over either alone in 5x3 cross-validation.
    """

    __slots__ = ("_models", "_predictor", "labels")

    def __init__(self, models: Sequence["fasttext.FastText._FastText"]) -> None:
        if not models:
            raise ValueError("a classifier needs at least one model")
        self._models = tuple(models)
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
    def from_files(cls, paths: Sequence[Path]) -> "Classifier":
        return cls([fasttext.load_model(str(p)) for p in paths])

    @property
    def fasttext_models(self) -> tuple["fasttext.FastText._FastText", ...]:
        return self._models

    def predict_tokens(self, lines: Sequence[Sequence[str]]) -> list[Prediction]:
        """Per line of model tokens (`training.text.model_tokens`): top tag, its probability and
        every label's probability (approved-tag order). A batch costs little more than one line."""
        probabilities = self._predictor.predict(lines)
        best = probabilities.argmax(axis=1).tolist()
        labels = self.labels
        return [
            (labels[i], row[i], dict(zip(labels, row, strict=True)))
            for i, row in zip(best, probabilities.tolist(), strict=True)
        ]

    def predict_many(self, pairs: Sequence[tuple[str, str]]) -> list[Prediction]:
        """Predictions for (title, description) pairs."""
        return self.predict_tokens(
            [model_tokens(title, description) for title, description in pairs]
        )

    def predict(self, title: str, description: str) -> Prediction:
        return self.predict_tokens([model_tokens(title, description)])[0]

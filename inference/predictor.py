"""What the service asks of a model: the `Predictor` protocol, and fastText's own per-line call as
its reference implementation.

`inference.classifier.Classifier` (the compiled batch path) is what the service runs; the parity
tests hold it to `ReferencePredictor` on the same models, so the fast path can change freely as
long as its answers do not.
"""

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from inference.text import views_normalised
from schemas.tags import APPROVED_TAGS

LABEL_PREFIX = "__label__"

Prediction = tuple[str, float, dict[str, float]]
"""Top tag, its probability, and every approved tag's probability (in `APPROVED_TAGS` order)."""


class Predictor(Protocol):
    """Answers for a batch of normalised (title, description) pairs, one per pair, in order."""

    @property
    def labels(self) -> tuple[str, ...]: ...

    def predict_normalised(self, pairs: Sequence[tuple[str, str]]) -> list[Prediction]: ...


def canonical_labels(raw_labels: Sequence[str]) -> list[str]:
    """fastText's `__label__` names in approved-tag order (unknown ones last, by name), so every
    probabilities dict reads the same way."""
    order = {f"{LABEL_PREFIX}{tag}": i for i, tag in enumerate(APPROVED_TAGS)}
    return sorted(raw_labels, key=lambda label: (order.get(label, len(order)), label))


class ReferencePredictor:
    """The ensemble answered line by line by fastText's own `predict`: each member's
    probabilities for the full view and the description view, averaged over the members (capped
    at 1: fastText adds 1e-5 to each) and blended `1 : description_weight`.

    Slow (a native call per line and member) and obviously right: the oracle for the batch path.
    fastText's Python `predict()` wrapper is bypassed for its binding (`model.f.predict`), as the
    wrapper ends in `np.array(probs, copy=False)`, which NumPy 2 rejects.
    """

    def __init__(self, models: Sequence[Any], description_weight: float = 0.0) -> None:
        if not models:
            raise ValueError("a predictor needs at least one model")
        self._models = tuple(models)
        self._weight = np.float32(description_weight)
        raw = canonical_labels(self._models[0].get_labels())
        self._column = {label: i for i, label in enumerate(raw)}
        self._labels = tuple(label.removeprefix(LABEL_PREFIX) for label in raw)

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    def line_probabilities(self, tokens: Sequence[str]) -> np.ndarray:
        """One line's probabilities (label order of `labels`), averaged over the members."""
        total = np.zeros(len(self._labels), np.float32)
        text = " ".join(tokens) + "\n"
        for model in self._models:
            for p, label in model.f.predict(text, -1, 0.0, "strict"):
                total[self._column[label]] += np.float32(p)
        total *= np.float32(1.0 / len(self._models))
        return np.minimum(total, np.float32(1.0))

    def predict_normalised(self, pairs: Sequence[tuple[str, str]]) -> list[Prediction]:
        answers: list[Prediction] = []
        for title, description in pairs:
            views = views_normalised(title, description)
            probabilities = self.line_probabilities(views.full)
            if self._weight and views.description:
                alone = self.line_probabilities(views.description)
                probabilities = (probabilities + self._weight * alone) / (1 + self._weight)
            row = {label: float(p) for label, p in zip(self._labels, probabilities, strict=True)}
            best = int(np.argmax(probabilities))
            answers.append((self._labels[best], row[self._labels[best]], row))
        return answers

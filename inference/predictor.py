"""What the service asks of a model: the `Predictor` protocol, and fastText's own per-line call as
its reference implementation.

`inference.classifier.Classifier` (the compiled batch path) is what the service runs; the parity
tests hold it to `ReferencePredictor` on the same models, so the fast path can change freely as
long as its answers do not.
"""

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, overload

import numpy as np
import numpy.typing as npt

from inference.answers import answers, top_columns
from inference.text import views_normalised
from schemas.tags import APPROVED_TAGS

LABEL_PREFIX = "__label__"

Prediction = tuple[str, float, dict[str, float]]
"""Top tag, its probability, and every approved tag's probability (in `APPROVED_TAGS` order)."""


class Predictor(Protocol):
    """Answers for a batch of normalised (title, description) pairs, one per pair, in order."""

    @property
    def labels(self) -> tuple[str, ...]: ...

    def predict_normalised(self, pairs: Sequence[tuple[str, str]]) -> Sequence[Prediction]: ...


class Answers(Sequence[Prediction]):
    """A batch's answers as the model computed them: a row of probabilities per event, a column
    per label. The service reads them as arrays (`top`, `confidences`, and the rows themselves
    when it writes its records, see `consumer.codec`); the `Prediction` tuples, a dict each, are
    built (for the whole batch, in C) only when one is read.

    :param probabilities: shape (events, labels); kept as float32, as the model computes them.
    :param labels: each column's label.
    """

    __slots__ = ("_predictions", "_top", "labels", "probabilities")

    def __init__(self, probabilities: npt.ArrayLike, labels: tuple[str, ...]) -> None:
        matrix = np.ascontiguousarray(probabilities, np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != len(labels):
            raise ValueError(f"{len(labels)} labels for probabilities of shape {matrix.shape}")
        matrix.setflags(write=False)  # the tuples, once built, must keep saying the same
        self.probabilities: npt.NDArray[np.float32] = matrix
        self.labels = labels
        self._predictions: list[Prediction] | None = None
        self._top: list[int] | None = None

    def top(self) -> list[int]:
        """Each answer's tag as its column: the first of a row's largest probabilities."""
        if self._top is None:
            self._top = top_columns(self.probabilities)
        return self._top

    def confidences(self) -> npt.NDArray[np.float64]:
        """Each answer's confidence: its tag's probability."""
        rows = np.arange(len(self.probabilities))
        return self.probabilities[rows, self.top()].astype(np.float64)

    def take(self, rows: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> "Answers":
        """The answers of `rows` (indices or a boolean mask), in order."""
        return Answers(self.probabilities[rows], self.labels)

    def _built(self) -> list[Prediction]:
        if self._predictions is None:
            self._predictions = answers(self.probabilities, self.labels)
        return self._predictions

    def __len__(self) -> int:
        return len(self.probabilities)

    @overload
    def __getitem__(self, index: int) -> Prediction: ...
    @overload
    def __getitem__(self, index: slice) -> list[Prediction]: ...
    def __getitem__(self, index: int | slice) -> Prediction | list[Prediction]:
        return self._built()[index]

    def __iter__(self) -> Iterator[Prediction]:
        return iter(self._built())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Answers | list | tuple):
            return self._built() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Answers({self._built()!r})"


def canonical_labels(raw_labels: Sequence[str]) -> list[str]:
    """fastText's `__label__` names in approved-tag order (unknown ones last, by name), so every
    probabilities dict reads the same way."""
    order = {f"{LABEL_PREFIX}{tag}": i for i, tag in enumerate(APPROVED_TAGS)}
    return sorted(raw_labels, key=lambda label: (order.get(label, len(order)), label))


def fasttext_probabilities(
    models: Sequence[Any], labels: Sequence[str], lines: Sequence[Sequence[str]]
) -> np.ndarray:
    """fastText's own per-line predict of every line by every model: shape (len(lines),
    len(labels)), columns in the order of `labels` (fastText's `__label__` names), averaged over
    the models and capped at 1 (fastText adds 1e-5 to each), float32.

    fastText's Python `predict()` wrapper is bypassed for its binding (`model.f.predict`), as the
    wrapper ends in `np.array(probs, copy=False)`, which NumPy 2 rejects.
    """
    column_of = {label: i for i, label in enumerate(labels)}
    texts = [" ".join(tokens) + "\n" for tokens in lines]
    rows = [[0.0] * len(labels) for _ in lines]
    for model in models:
        predict = model.f.predict
        for row, text in zip(rows, texts, strict=True):
            for p, label in predict(text, -1, 0.0, "strict"):
                row[column_of[label]] += p
    total = np.array(rows, np.float32).reshape(len(lines), len(labels))
    total *= np.float32(1.0 / len(models))
    return np.minimum(total, np.float32(1.0), out=total)


def blend(probabilities: np.ndarray, has_description: np.ndarray, weight: float) -> np.ndarray:
    """Full-view rows (the first len(has_description)) blended `1 : weight` with the
    description-view rows after them. An empty description has no view of its own: the full view
    alone answers."""
    if not weight:
        return probabilities
    events = len(has_description)
    w = (has_description * np.float32(weight))[:, None]
    return (probabilities[:events] + w * probabilities[events:]) / (1 + w)


class ReferencePredictor:
    """The ensemble answered line by line by fastText's own `predict` (`fasttext_probabilities`):
    the full view and the description view of each event, blended `1 : description_weight`.

    Slow (a native call per line and member) and obviously right: the oracle for the batch path.
    """

    def __init__(self, models: Sequence[Any], description_weight: float = 0.0) -> None:
        if not models:
            raise ValueError("a predictor needs at least one model")
        self._models = tuple(models)
        self._weight = description_weight
        self._raw = canonical_labels(self._models[0].get_labels())
        self._labels = tuple(label.removeprefix(LABEL_PREFIX) for label in self._raw)

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    def predict_normalised(self, pairs: Sequence[tuple[str, str]]) -> list[Prediction]:
        views = [views_normalised(title, description) for title, description in pairs]
        lines = [v.full for v in views]
        if self._weight:
            lines += [v.description for v in views]
        has_description = np.array([bool(v.description) for v in views])
        probabilities = blend(
            fasttext_probabilities(self._models, self._raw, lines), has_description, self._weight
        )
        answers: list[Prediction] = []
        for values in probabilities:
            row = {label: float(p) for label, p in zip(self._labels, values, strict=True)}
            best = int(np.argmax(values))
            answers.append((self._labels[best], row[self._labels[best]], row))
        return answers

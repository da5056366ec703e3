"""fastText prediction without the NumPy-2-incompatible Python wrapper.

fasttext 0.9.3's `FastText.predict()` ends in `np.array(probs, copy=False)`, which NumPy 2
rejects. Rather than pin NumPy < 2 or patch the package, we call the C++ binding
(`model.f.predict`) directly: it returns plain `(probability, label)` tuples, works with any NumPy,
and skips an array allocation on the per-event hot path.
"""

from collections.abc import Sequence
from pathlib import Path

import fasttext
import fasttext.FastText

from schemas.tags import APPROVED_TAGS
from training.text import model_input

LABEL_PREFIX = "__label__"

# load_model() prints a deprecation warning to stderr on every load; it is noise in JSON logs.
fasttext.FastText.eprint = lambda *args, **kwargs: None


class Classifier:
    """A loaded fastText model that answers with approved tags only."""

    __slots__ = ("_model", "_predict", "_tag_of", "labels")

    def __init__(self, model: "fasttext.FastText._FastText") -> None:
        self._model = model
        self._predict = model.f.predict
        raw_labels = list(model.get_labels())
        self.labels: tuple[str, ...] = tuple(
            label.removeprefix(LABEL_PREFIX) for label in raw_labels
        )
        self._tag_of = {raw: tag for raw, tag in zip(raw_labels, self.labels, strict=True)}

    @classmethod
    def from_file(cls, path: Path) -> "Classifier":
        return cls(fasttext.load_model(str(path)))

    @property
    def fasttext_model(self) -> "fasttext.FastText._FastText":
        return self._model

    def predict_text(self, text: str) -> tuple[str, float, dict[str, float]]:
        """Top tag, its probability and every approved tag's probability for normalised text."""
        pairs = self._predict(text + "\n", -1, 0.0, "strict")
        tag_of = self._tag_of
        probs: dict[str, float] = {}
        for p, label in pairs:
            # Clamped to [0, 1] like min(max(p, 0.0), 1.0), without two builtin calls per label.
            if p < 0.0:
                p = 0.0
            elif p > 1.0:
                p = 1.0
            probs[tag_of[label]] = p
        best = tag_of[pairs[0][1]]
        return best, probs[best], probs

    def predict(self, title: str, description: str) -> tuple[str, float, dict[str, float]]:
        return self.predict_text(model_input(title, description))

    def predict_many(self, texts: Sequence[str]) -> list[tuple[str, float, dict[str, float]]]:
        return [self.predict_text(t) for t in texts]


def all_tag_probabilities(probs: dict[str, float]) -> dict[str, float]:
    """Probabilities in approved-tag order, 0.0 for any tag the model did not return."""
    return {tag: probs.get(tag, 0.0) for tag in APPROVED_TAGS}

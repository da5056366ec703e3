"""A model stand-in for tests about routing, batching and offsets rather than about the model: a
`Predictor` that answers from keywords, wrapped in an `Artifact` as the service loads one."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inference.artifact import Artifact
from inference.predictor import Prediction
from schemas.artifact import FORMAT_VERSION, ArtifactMetadata, ModelFile, PredictionSettings
from schemas.tags import APPROVED_TAGS

KEYWORDS: dict[str, frozenset[str]] = {
    "computer-vision": frozenset("image images detection yolo pixels photos video".split()),
    "natural-language-processing": frozenset("text bert gpt language nlp tokens".split()),
    "mlops": frozenset("deployment kubernetes monitoring pipeline docker".split()),
}
CONFIDENT = 0.9
"""The probability of a tag whose keywords the text holds."""
UNSURE = 0.4
"""The probability of "other", the answer when no keyword is there."""
THRESHOLD = 0.5
"""The stub artifact's review threshold: between UNSURE and CONFIDENT."""


class KeywordPredictor:
    """Answers normalised (title, description) pairs through the `Predictor` protocol: the first
    tag with a keyword in the text at CONFIDENT, else "other" at UNSURE."""

    labels: tuple[str, ...] = APPROVED_TAGS

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict_normalised(self, pairs: Sequence[tuple[str, str]]) -> list[Prediction]:
        self.calls.append(len(pairs))
        return [self._answer(f"{title} {description}".split()) for title, description in pairs]

    def _answer(self, words: list[str]) -> Prediction:
        tag = next((t for t, keys in KEYWORDS.items() if keys.intersection(words)), "other")
        top = UNSURE if tag == "other" else CONFIDENT
        rest = (1.0 - top) / (len(APPROVED_TAGS) - 1)
        probabilities = {t: top if t == tag else rest for t in APPROVED_TAGS}
        return tag, top, probabilities


def stub_artifact(threshold: float = THRESHOLD) -> Artifact:
    """An `Artifact` whose classifier is a fresh `KeywordPredictor` (the pipeline asks its model
    only for `predict_normalised`), with metadata as the loader would validate it."""
    meta = ArtifactMetadata(
        format_version=FORMAT_VERSION,
        version="stub-keywords",
        created_at="2026-01-01T00:00:00+00:00",
        labels=sorted(APPROVED_TAGS),
        prediction=PredictionSettings(description_view_weight=0.0),
        threshold=threshold,
        models=[ModelFile(file="keywords", sha256="0" * 64)],
    )
    classifier: Any = KeywordPredictor()
    return Artifact(path=Path("<stub>"), meta=meta, classifier=classifier)

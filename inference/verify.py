"""Checks a loaded model must pass before it serves, beyond what `load_artifact` already checks.

`load_artifact` refuses a corrupted or tampered artifact (checksums) and one with labels outside
the approved set. A model can pass both and still be wrong to serve: trained on shuffled labels,
the wrong data, or built against a slow path. So a candidate must also

- tag every example of a small fixed smoke set correctly: texts so unmistakable that any model
  fit to serve gets all of them right (no misses are allowed: a model that confuses "YOLO object
  detection in images" with anything but computer-vision is broken, not merely weaker), and
- answer the smoke set within a latency budget: the median, over a few repetitions, of one batch
  call's time per event (the first call, which warms caches, is not timed).

Quality against the champion is the registry's gate at promotion time, not this one: this is the
last check before a version the registry points at is served.
"""

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from inference.artifact import Artifact
from inference.text import normalise_text
from schemas.tags import APPROVED_TAGS

__all__ = ["SMOKE_SET", "SmokeExample", "VerificationError", "verify"]


class VerificationError(RuntimeError):
    """The candidate loaded but must not serve; the message says why."""


@dataclass(frozen=True, slots=True)
class SmokeExample:
    tag: str
    title: str
    description: str


SMOKE_SET: tuple[SmokeExample, ...] = (
    SmokeExample(
        "computer-vision",
        "YOLO real-time object detection in images",
        "Bounding boxes around objects in video frames.",
    ),
    SmokeExample(
        "computer-vision",
        "Image segmentation with U-Net",
        "Pixel-wise masks for medical images.",
    ),
    SmokeExample(
        "computer-vision",
        "Image classification on ImageNet with ResNet",
        "A CNN labels photos into a thousand classes.",
    ),
    SmokeExample(
        "natural-language-processing",
        "BERT for sentiment analysis of movie reviews",
        "Fine-tune a transformer language model on text.",
    ),
    SmokeExample(
        "natural-language-processing",
        "Named entity recognition with spaCy",
        "Extract people, places and organisations from text.",
    ),
    SmokeExample(
        "natural-language-processing",
        "Text summarization with GPT",
        "Generate short summaries of long documents.",
    ),
    SmokeExample(
        "mlops",
        "Deploying machine learning models with Docker and Kubernetes",
        "Serve and scale model inference in production.",
    ),
    SmokeExample(
        "mlops",
        "Monitoring ML models in production for data drift",
        "Alerts when live data drifts from training data.",
    ),
    SmokeExample(
        "mlops",
        "CI/CD for machine learning pipelines",
        "Automate testing, training and deployment of models.",
    ),
    SmokeExample(
        "other",
        "Reinforcement learning agent plays Atari games",
        "Deep Q-learning from rewards.",
    ),
    SmokeExample(
        "other",
        "Graph neural networks for molecule property prediction",
        "Message passing on molecular graphs.",
    ),
    SmokeExample(
        "other",
        "Time series forecasting of stock prices",
        "ARIMA and LSTM models predict future values.",
    ),
)
"""Three unmistakable examples per approved tag; every trained model fit to serve tags all of them
correctly (the model trained on the labelled data set does, each at high confidence)."""

REPETITIONS = 5
"""Timed batch calls over the smoke set; their median is held to the budget."""


def verify(
    artifact: Artifact,
    *,
    latency_budget_seconds: float,
    smoke_set: Sequence[SmokeExample] = SMOKE_SET,
    repetitions: int = REPETITIONS,
) -> None:
    """Raises `VerificationError` unless `artifact` tags every smoke example correctly and answers
    within the budget.

    :param artifact: a candidate already through `load_artifact` (checksums, approved labels).
    :param latency_budget_seconds: the most the median time per event may be.
    :param smoke_set: the examples to tag; tests give a tiny model examples of its own.
    :param repetitions: timed batch calls (after one untimed warm-up call).
    """
    if not smoke_set:
        raise ValueError("an empty smoke set verifies nothing")
    unknown = {e.tag for e in smoke_set} - set(APPROVED_TAGS)
    if unknown:
        raise ValueError(f"smoke set tags {sorted(unknown)} are not approved tags")
    pairs = [(normalise_text(e.title), normalise_text(e.description)) for e in smoke_set]
    predict = artifact.classifier.predict_normalised
    try:
        predictions = predict(pairs)  # also the warm-up call
    except Exception as exc:
        raise VerificationError(
            f"model {artifact.version} failed on the smoke set: {type(exc).__name__}: {exc}"
        ) from exc
    misses = [
        f"{e.title!r} → {p[0]} (expected {e.tag})"
        for e, p in zip(smoke_set, predictions, strict=True)
        if p[0] != e.tag
    ]
    if misses:
        raise VerificationError(
            f"model {artifact.version} mistags {len(misses)} of {len(smoke_set)} smoke examples: "
            + "; ".join(misses)
        )
    per_event = []
    for _ in range(max(1, repetitions)):
        started = time.perf_counter()
        predict(pairs)
        per_event.append((time.perf_counter() - started) / len(pairs))
    median = statistics.median(per_event)
    if median > latency_budget_seconds:
        raise VerificationError(
            f"model {artifact.version} takes {median * 1e6:.1f} µs per event on the smoke set, "
            f"over the {latency_budget_seconds * 1e6:.1f} µs budget"
        )

"""Behavioural tests of a trained model (CheckList: minimum functionality, invariance,
directional expectations), against `model_artifact`: `--model-dir DIR`, or the production config
trained on the labelled data set."""

import pytest

from consumer.config import Settings
from inference.artifact import Artifact
from inference.verify import verify
from schemas.tags import APPROVED_TAGS

DEFAULT_LATENCY_BUDGET_SECONDS = Settings.model_fields["model_latency_budget_ms"].default / 1000

CLEAR_EXAMPLES = [
    (
        "Fine-tuning BERT for named entity recognition",
        "Token classification with transformers on a text corpus.",
        "natural-language-processing",
    ),
    (
        "Machine translation with sequence to sequence models",
        "Translate English sentences to German with attention.",
        "natural-language-processing",
    ),
    (
        "YOLO real-time object detection",
        "Detect objects in images and video frames with a CNN.",
        "computer-vision",
    ),
    (
        "Semantic segmentation of satellite images",
        "Pixel-wise segmentation with a U-Net on aerial imagery.",
        "computer-vision",
    ),
    (
        "Deploying models with Kubernetes and Docker",
        "Serve, monitor and scale machine learning models in production.",
        "mlops",
    ),
    (
        "Experiment tracking and model registry",
        "Track experiments, version data and models, and automate ML pipelines.",
        "mlops",
    ),
    (
        "Graph neural networks for molecules",
        "Learning on graphs for drug discovery and chemistry.",
        "other",
    ),
]
"""(title, description, tag): texts any usable model must tag right."""


def _tag(artifact: Artifact, title: str, description: str) -> str:
    return artifact.classifier.predict(title, description)[0]


# ---------------------------------------------------------------- minimum functionality


@pytest.mark.parametrize(("title", "description", "tag"), CLEAR_EXAMPLES)
def test_minimum_functionality_per_tag(
    model_artifact: Artifact, title: str, description: str, tag: str
):
    assert _tag(model_artifact, title, description) == tag


@pytest.mark.parametrize(
    "text",
    [
        "generating images from pixels with convolutional networks",
        "detecting faces in photos and video",
        "image classification of medical scans",
    ],
)
def test_text_about_images_is_computer_vision(model_artifact: Artifact, text: str):
    assert _tag(model_artifact, text, "") == "computer-vision"


def test_probabilities_cover_only_approved_tags_and_top_one_is_the_confidence(
    model_artifact: Artifact,
):
    _, confidence, probs = model_artifact.classifier.predict("BERT", "language model")
    assert set(probs) <= set(APPROVED_TAGS)
    assert all(0.0 <= p <= 1.0 for p in probs.values())
    assert confidence == max(probs.values())


# ---------------------------------------------------------------- invariance

PERTURBATIONS = {
    "upper_case": lambda text: text.upper(),
    "lower_case": lambda text: text.lower(),
    "punctuation": lambda text: "¡" + text.replace(" ", ", ").replace("-", " - ") + "?!...",
    "urls": lambda text: f"https://example.com/a?b=1 {text} www.example.org/paper-42",
    "whitespace": lambda text: "\n  " + text.replace(" ", " \t\n  ") + "   ",
}


@pytest.mark.parametrize("perturb", PERTURBATIONS.values(), ids=PERTURBATIONS.keys())
@pytest.mark.parametrize(
    ("title", "description"), [(t, d) for t, d, _ in CLEAR_EXAMPLES], ids=lambda text: text[:24]
)
def test_case_punctuation_urls_and_whitespace_do_not_change_the_prediction(
    model_artifact: Artifact, perturb, title: str, description: str
):
    tag, confidence, probabilities = model_artifact.classifier.predict(title, description)
    changed = model_artifact.classifier.predict(perturb(title), perturb(description))
    assert changed[0] == tag
    assert changed[1] == pytest.approx(confidence, abs=1e-6)
    assert changed[2] == pytest.approx(probabilities, abs=1e-6)


@pytest.mark.parametrize(
    ("template", "verbs"),
    [
        ("Transformers {} text classification.", ("improve", "boost")),
        ("A CNN that {} image classification.", ("improves", "speeds up")),
        ("A tool that {} model deployment pipelines.", ("simplifies", "automates")),
    ],
)
def test_invariance_to_verb_swap(model_artifact: Artifact, template: str, verbs: tuple[str, str]):
    first, second = (_tag(model_artifact, template.format(verb), "") for verb in verbs)
    assert first == second


# ---------------------------------------------------------------- directional

DOMAIN_WORDS = {
    "natural-language-processing": "transformer language model tokens",
    "computer-vision": "image segmentation convolutional pixels",
    "mlops": "kubernetes deployment monitoring pipeline",
}
"""Strong words of each tag that `other` has none of."""

BASES = [
    ("Graph neural networks for molecules", "Learning on graphs for drug discovery.", "other"),
    ("Time series forecasting", "Predict future values from past observations.", "other"),
    ("Reinforcement learning agent", "Learns a policy from rewards in a game.", "other"),
    ("Object detection with YOLO", "Bounding boxes in images.", "computer-vision"),
    ("BERT for question answering", "Reading comprehension.", "natural-language-processing"),
    ("Deploying models with Docker", "Serve models in production.", "mlops"),
]
"""(title, description, tag) to add another tag's words to."""

MIN_RISE = 0.05
"""How much adding a tag's words must raise its probability, at least."""


@pytest.mark.parametrize(
    ("title", "description", "tag"),
    [
        pytest.param(title, description, tag, id=f"{tag}-words-to-{base_tag}:{title}")
        for tag in DOMAIN_WORDS
        for title, description, base_tag in BASES
        if base_tag != tag
    ],
)
def test_adding_a_tags_domain_words_raises_its_probability(
    model_artifact: Artifact, title: str, description: str, tag: str
):
    before = model_artifact.classifier.predict(title, description)[2][tag]
    added = f"{description} {DOMAIN_WORDS[tag]}"
    after = model_artifact.classifier.predict(title, added)[2][tag]
    assert after >= before + MIN_RISE, f"{tag}: {before:.3f} -> {after:.3f}"


def test_the_model_passes_the_services_hot_reload_verification(model_artifact: Artifact):
    """A candidate the service would refuse on reload (smoke set, latency budget) must not pass
    the gate: the same checks, with the service's default budget."""
    verify(model_artifact, latency_budget_seconds=DEFAULT_LATENCY_BUDGET_SECONDS)

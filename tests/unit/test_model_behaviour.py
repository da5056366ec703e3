"""Behavioural tests of the trained model (CheckList: MFT, INV, DIR)."""

import pytest

from inference.artifact import Artifact


@pytest.mark.parametrize(
    ("title", "description", "tag"),
    [
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
    ],
)
def test_minimum_functionality_per_tag(artifact: Artifact, title: str, description: str, tag: str):
    assert artifact.classifier.predict(title, description)[0] == tag


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Transformers {} text classification.", ("improve", "boost")),
        ("A CNN that {} image classification.", ("improves", "speeds up")),
        ("A tool that {} model deployment pipelines.", ("simplifies", "automates")),
    ],
)
def test_invariance_to_verb_swap(artifact: Artifact, a: str, b: tuple[str, str]):
    first = artifact.classifier.predict(a.format(b[0]), "")[0]
    second = artifact.classifier.predict(a.format(b[1]), "")[0]
    assert first == second


@pytest.mark.parametrize(
    "text",
    [
        "generating images from pixels with convolutional networks",
        "detecting faces in photos and video",
        "image classification of medical scans",
    ],
)
def test_text_about_images_is_computer_vision(artifact: Artifact, text: str):
    assert artifact.classifier.predict(text, "")[0] == "computer-vision"


def test_probabilities_cover_only_approved_tags_and_top_one_is_the_confidence(artifact: Artifact):
    _, confidence, probs = artifact.classifier.predict("BERT", "language model")
    assert set(probs) <= {"natural-language-processing", "computer-vision", "mlops", "other"}
    assert all(0.0 <= p <= 1.0 for p in probs.values())
    assert confidence == max(probs.values())

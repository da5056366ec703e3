"""A tiny labelled data set written by hand for the tests, and the small training config they use.

Every row below is SYNTHETIC: short made-up (title, description) pairs, a dozen per approved tag,
so that unit tests train a real model through the real training code in a second or two, with no
access to the labelled data set (DATASET_LOC). They say nothing about model quality; tests/model
does, on a model trained on the real data.
"""

import csv
import io
from pathlib import Path

from training.config import FastTextParams, TrainConfig
from training.data import Dataset, Example, parse

NLP, CV, MLOPS, OTHER = "natural-language-processing", "computer-vision", "mlops", "other"

ROWS: tuple[tuple[str, str, str], ...] = (
    (NLP, "Sentiment analysis of product reviews", "Classify review text as positive or negative."),
    (NLP, "Named entity recognition with BERT", "Tag people and places in news sentences."),
    (NLP, "Machine translation with transformers", "Translate English sentences into German."),
    (NLP, "Question answering over documents", "A reader finds the answer span in a passage."),
    (NLP, "Text summarisation of news articles", "Short abstracts of long documents with seq2seq."),
    (NLP, "Word embeddings from scratch", "Train word2vec vectors on a text corpus."),
    (NLP, "Tokenizers for large language models", "Byte pair encoding splits words into tokens."),
    (NLP, "Spam detection in emails", "A text classifier flags unwanted messages by their words."),
    (NLP, "Chatbot with a dialogue model", "Answer user utterances in natural language."),
    (NLP, "Part of speech tagging", "Label every word in a sentence with its grammatical role."),
    (NLP, "Fine-tuning GPT for text generation", "Prompting and sampling a language model."),
    (NLP, "Topic modelling of a document corpus", "Latent topics in text from word counts."),
    (CV, "Object detection with YOLO", "Bounding boxes around objects in images and video."),
    (CV, "Image classification with a CNN", "A convolutional network labels photos of cats."),
    (CV, "Semantic segmentation of street scenes", "Pixel-wise labels for roads in camera images."),
    (CV, "Face recognition in photos", "Detect and identify faces in images."),
    (CV, "Pose estimation of human bodies", "Locate keypoints of joints in images and video."),
    (CV, "Image generation with GANs", "A generator network produces realistic pictures."),
    (CV, "Optical character recognition", "Read printed text from scanned document images."),
    (CV, "Medical image segmentation with U-Net", "Outline tumours in MRI scans pixel by pixel."),
    (CV, "Vision transformer for image recognition", "Split an image into patches, classify it."),
    (CV, "Depth estimation from a single camera", "Per-pixel depth maps from monocular images."),
    (CV, "Image super-resolution", "Upscale low resolution photos with a convolutional network."),
    (CV, "Video action recognition", "Classify what people do in video clips from their frames."),
    (MLOPS, "Deploying models with Docker and Kubernetes", "Scale a model server on a cluster."),
    (MLOPS, "Experiment tracking with MLflow", "Log parameters and metrics of every training run."),
    (MLOPS, "Model monitoring in production", "Detect data drift and alert when quality drops."),
    (MLOPS, "Feature store for machine learning", "Consistent features for training and serving."),
    (MLOPS, "CI/CD pipelines for ML", "Test, train and deploy models on every commit."),
    (MLOPS, "Data versioning with DVC", "Version datasets and models alongside code in git."),
    (MLOPS, "Serving models behind a REST API", "Low-latency model inference with batching."),
    (MLOPS, "Workflow orchestration with Airflow", "Schedule and retry training pipelines."),
    (MLOPS, "Model registry and releases", "Promote versioned models from staging to production."),
    (MLOPS, "Distributed training on a cluster", "Scale training jobs with Ray and Kubernetes."),
    (MLOPS, "Testing machine learning systems", "Data validation and model checks before deploy."),
    (MLOPS, "Inference infrastructure costs", "Autoscaling, monitoring, logging of deployments."),
    (OTHER, "Graph neural networks for molecules", "Learning on graphs for drug discovery."),
    (OTHER, "Reinforcement learning for games", "An agent learns a policy from rewards."),
    (OTHER, "Time series forecasting of sales", "Predict future demand from past observations."),
    (OTHER, "Recommender systems", "Suggest items to users by matrix factorisation of ratings."),
    (OTHER, "Anomaly detection in sensor data", "Flag unusual readings in tabular measurements."),
    (OTHER, "Gradient boosting on tabular data", "XGBoost trees for structured features."),
    (OTHER, "Bayesian optimisation of functions", "Gaussian processes choose where to sample."),
    (OTHER, "Clustering customers", "Group similar customers with k-means on purchases."),
    (OTHER, "Audio classification of bird songs", "Recognise species from sound recordings."),
    (OTHER, "Causal inference for policy evaluation", ""),
    (OTHER, "Linear algebra for machine learning", "Vectors, matrices and eigenvalues explained."),
    (OTHER, "Protein structure prediction", "Fold amino acid sequences into 3D shapes."),
)
"""(tag, title, description): 12 rows per approved tag; one row has no description."""

ODD_TEXTS: tuple[tuple[str, str], ...] = (
    ("Totally unseen zzqx wörds", "naïve café — “quoted” 日本語 text, ünïcode ẞ"),
    ("", ""),
    ("a", ""),
    ("GAN", "GAN GAN GAN GAN"),
)
"""(title, description) pairs where a fast path could part from fastText's own: unseen and
non-ASCII words, empty fields, a lone stopword, repeated words."""


def csv_bytes(rows: tuple[tuple[str, str, str], ...] = ROWS) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "created_on", "title", "description", "tag"])
    for i, (tag, title, description) in enumerate(rows, 1):
        writer.writerow([f"syn-{i:03d}", "2020-01-01 00:00:00", title, description, tag])
    return out.getvalue().encode()


def dataset() -> Dataset:
    """The rows, through the real loader's validation."""
    return parse(csv_bytes(), source="tests.support.synthetic")


def examples() -> list[Example]:
    return dataset().examples


def write_csv(path: Path) -> Path:
    path.write_bytes(csv_bytes())
    return path


TINY_MEMBER = FastTextParams(epoch=25, bucket=10_000)

TINY_CONFIG = TrainConfig(
    models=[TINY_MEMBER, TINY_MEMBER.model_copy(update={"minn": 0, "maxn": 0})],
    validation_size=0.25,
    calibration_folds=2,
    description_view_weight=0.25,
)
"""The production config's shape (a char + word n-gram pair, the description view blended in,
out-of-fold calibration, refit on every row) at a size that trains in about a second."""

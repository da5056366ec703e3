"""Stratified k-fold: repeated cross-validation chooses settings without tuning to one split, and
out-of-fold predictions give calibration a prediction for every row by a model that never saw it."""

import statistics
from collections.abc import Sequence
from typing import Any

from sklearn.metrics import f1_score
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold

from training.classifier import Prediction
from training.config import TrainConfig
from training.data import Dataset, Example
from training.fit import fit_classifier


def cross_validate(
    dataset: Dataset, config: TrainConfig, folds: int = 5, repeats: int = 3, seed: int = 42
) -> dict[str, Any]:
    """Weighted F1 per fold, and its mean and standard deviation over all folds."""
    examples, tags = dataset.examples, dataset.tags
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    scores = []
    for train_idx, test_idx in splitter.split(examples, tags):
        classifier = fit_classifier([examples[i] for i in train_idx], config)
        pairs = [(examples[i].title, examples[i].description) for i in test_idx]
        predicted = [p[0] for p in classifier.predict_many(pairs)]
        scores.append(
            f1_score([tags[i] for i in test_idx], predicted, average="weighted", zero_division=0)
        )
    return {
        "folds": folds,
        "repeats": repeats,
        "seed": seed,
        "weighted_f1_mean": statistics.fmean(scores),
        "weighted_f1_std": statistics.pstdev(scores),
        "weighted_f1_per_fold": scores,
        "config": config.model_dump(),
    }


def out_of_fold(
    examples: Sequence[Example], config: TrainConfig, folds: int = 5, seed: int = 42
) -> list[Prediction]:
    """A prediction per example, each from an ensemble fitted on the other folds."""
    predictions: list[Prediction | None] = [None] * len(examples)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_idx, test_idx in splitter.split(examples, [e.tag for e in examples]):
        classifier = fit_classifier([examples[i] for i in train_idx], config)
        pairs = [(examples[i].title, examples[i].description) for i in test_idx]
        for i, prediction in zip(test_idx, classifier.predict_many(pairs), strict=True):
            predictions[i] = prediction
    missing = [i for i, p in enumerate(predictions) if p is None]
    if missing:
        raise RuntimeError(f"no out-of-fold prediction for rows {missing[:10]}")
    return [p for p in predictions if p is not None]

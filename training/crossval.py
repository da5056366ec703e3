"""Stratified k-fold: repeated cross-validation chooses settings without tuning to one split, and
out-of-fold predictions give calibration a prediction for every row by a model that never saw it."""

import statistics
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sklearn.metrics import f1_score
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold

from inference.classifier import Prediction
from training.config import TrainConfig
from training.data import Dataset, Example
from training.fit import fit_classifier


def _fold_predictions(
    examples: Sequence[Example], config: TrainConfig, splits: Iterable[tuple[Any, Any]]
) -> Iterator[tuple[Any, Sequence[Prediction]]]:
    """Per split: the test indices and their predictions by an ensemble fitted on the rest."""
    for train_idx, test_idx in splits:
        classifier = fit_classifier([examples[i] for i in train_idx], config)
        pairs = [(examples[i].title, examples[i].description) for i in test_idx]
        yield test_idx, classifier.predict_many(pairs)


def cross_validate(
    dataset: Dataset, config: TrainConfig, folds: int = 5, repeats: int = 3, seed: int = 42
) -> dict[str, Any]:
    """Weighted F1 per fold, and its mean and standard deviation over all folds."""
    examples, tags = dataset.examples, dataset.tags
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    scores = [
        f1_score(
            [tags[i] for i in test_idx],
            [p[0] for p in predictions],
            average="weighted",
            zero_division=0,
        )
        for test_idx, predictions in _fold_predictions(
            examples, config, splitter.split(examples, tags)
        )
    ]
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
    """A prediction per example, each from an ensemble fitted on the other folds (every example
    is in exactly one test fold)."""
    predictions: dict[int, Prediction] = {}
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    splits = splitter.split(examples, [e.tag for e in examples])
    for test_idx, fold in _fold_predictions(examples, config, splits):
        predictions.update(zip(test_idx.tolist(), fold, strict=True))
    return [predictions[i] for i in range(len(examples))]

"""The train command: fit on a seeded stratified split and evaluate there, calibrate the review
threshold, refit on every row, and write the artifact."""

import logging
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sklearn.model_selection import train_test_split

from inference.artifact import load_artifact
from inference.drift_reference import DEFAULT_EDGES, confidence_histogram, tag_shares
from training.calibrate import calibrate_threshold, selective_at
from training.config import TrainConfig
from training.crossval import out_of_fold
from training.data import Dataset, Example, merge
from training.evaluate import evaluate_examples, write_plots
from training.fit import fit_all, fit_classifier
from training.write import write_artifact

log = logging.getLogger(__name__)


def split(
    dataset: Dataset, validation_size: float, seed: int
) -> tuple[list[Example], list[Example]]:
    train, val = train_test_split(
        dataset.examples, test_size=validation_size, random_state=seed, stratify=dataset.tags
    )
    return list(train), list(val)


def feedback_summary(feedback: Dataset, replaced: int) -> dict[str, Any]:
    """What the artifact's metadata says about the labels from people
    (`schemas.artifact.FeedbackSummary`)."""
    labels = Counter(e.tag for e in feedback.examples)
    return {
        "rows": len(feedback.examples),
        "labels": dict(sorted(labels.items())),
        "sha256": feedback.sha256,
        "source": feedback.source,
        "replaced": replaced,
    }


def reference_distributions(
    tags: Sequence[str], confidences: Sequence[float], source: str
) -> dict[str, Any]:
    """The artifact's `reference` (`schemas.artifact.ReferenceDistributions`): the model's answers
    on rows it did not train on, binned exactly as the service bins live traffic
    (`inference.drift_reference`), so the drift monitor's PSI compares like with like."""
    return {
        "source": source,
        "num_samples": len(confidences),
        "tag_share": tag_shares(tags),
        "confidence_edges": list(DEFAULT_EDGES),
        "confidence_share": confidence_histogram(confidences, DEFAULT_EDGES),
    }


def train(
    dataset: Dataset,
    config: TrainConfig,
    out_dir: Path,
    feedback: Dataset | None = None,
    *,
    plots_dir: Path | None = None,
) -> dict[str, Any]:
    """Returns the artifact's metadata; the artifact itself is at `out_dir`.

    With `feedback` (a labels file from `python -m training feedback export`), trains on the data
    set with those rows merged in (`training.data.merge`: they replace rows of the same id or text),
    and the metadata counts them.

    :param plots_dir: where to write the validation split's plots (`training.evaluate.write_plots`:
        confusion matrix, precision vs coverage), e.g. for the tracked run; none when omitted.
    """
    started = time.perf_counter()
    extra: dict[str, Any] = {}
    if feedback is not None:
        merged = merge(dataset, feedback)
        dataset = merged.dataset
        extra["feedback"] = feedback_summary(feedback, merged.replaced)
    train_examples, val_examples = split(dataset, config.validation_size, config.split_seed)
    classifier = fit_classifier(train_examples, config)
    report = evaluate_examples(classifier, val_examples, threshold=None)
    val_predictions, val_outcomes = report.pop("_predictions"), report.pop("_outcomes")
    val_confidences = [p["confidence"] for p in val_predictions]
    val_correct = [p["correct"] for p in val_outcomes]
    if config.calibration_folds:
        predictions = out_of_fold(
            dataset.examples, config, config.calibration_folds, seed=config.split_seed
        )
        tags = [p[0] for p in predictions]
        confidences = [p[1] for p in predictions]
        correct = [p[0] == e.tag for p, e in zip(predictions, dataset.examples, strict=True)]
        source = f"out-of-fold predictions, {config.calibration_folds} folds over every row"
    else:
        tags = [p["tag"] for p in val_predictions]
        confidences, correct, source = val_confidences, val_correct, "validation split"
    selective = calibrate_threshold(confidences, correct, config.target_precision)
    if not selective.met:
        log.warning(
            "no threshold reaches precision %.3f in calibration; only events the model is "
            "certain of (confidence 1.0) will be tagged, the rest go to review",
            config.target_precision,
        )
    report["selective"] = selective_at(val_confidences, val_correct, selective.threshold)
    if plots_dir is not None:
        full = {**report, "_predictions": val_predictions, "_outcomes": val_outcomes}
        write_plots(full, val_examples, plots_dir)
    calibration = {
        "source": source,
        "num_samples": len(confidences),
        "threshold": selective.threshold,
        "coverage": selective.coverage,
        "precision": selective.precision,
        "accuracy": sum(correct) / len(correct),
    }
    models = (
        fit_all(dataset.examples, config) if config.refit_on_all else classifier.fasttext_models
    )
    write_artifact(
        out_dir,
        models,
        description_view_weight=config.description_view_weight,
        threshold=selective.threshold,
        target_precision=config.target_precision,
        validation_metrics=report,
        fasttext_params=[params.as_kwargs() for params in config.models],
        data_sha256=dataset.sha256,
        data_source=dataset.source,
        extra={
            "trained_on": "train+validation" if config.refit_on_all else "train",
            "calibration": calibration,
            "num_train": len(train_examples),
            "num_validation": len(val_examples),
            "split_seed": config.split_seed,
            "training_seconds": round(time.perf_counter() - started, 3),
            "reference": reference_distributions(tags, confidences, source),
            **extra,
        },
    )
    return load_artifact(out_dir).metadata

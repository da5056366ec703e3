"""Fit fastText on a seeded stratified split, evaluate, calibrate, and write the artifact."""

import logging
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import fasttext
from sklearn.model_selection import train_test_split

from training.artifact import load_artifact, write_artifact
from training.calibrate import calibrate_threshold
from training.classifier import LABEL_PREFIX, Classifier
from training.config import FastTextParams, TrainConfig
from training.data import Dataset, Example
from training.evaluate import evaluate_examples
from training.text import model_input

log = logging.getLogger(__name__)


def write_fasttext_file(examples: Sequence[Example], path: Path) -> None:
    with path.open("w", encoding="utf-8") as f:
        for e in examples:
            f.write(f"{LABEL_PREFIX}{e.tag} {model_input(e.title, e.description)}\n")


NAN_RETRIES = 3


def fit(examples: Sequence[Example], params: FastTextParams) -> Any:
    """fastText aborts with "Encountered NaN" when a learning rate diverges on some data; halving
    the rate and retrying is what one would do by hand, so do it here and say so in the log."""
    kwargs = params.as_kwargs()
    with tempfile.TemporaryDirectory() as tmp:
        train_file = Path(tmp) / "train.txt"
        write_fasttext_file(examples, train_file)
        for attempt in range(NAN_RETRIES + 1):
            try:
                return fasttext.train_supervised(input=str(train_file), verbose=0, **kwargs)
            except RuntimeError as exc:
                if "NaN" not in str(exc) or attempt == NAN_RETRIES:
                    raise
                log.warning("training diverged at lr=%s; retrying at half the rate", kwargs["lr"])
                kwargs["lr"] = kwargs["lr"] / 2
    raise AssertionError("unreachable")


def split(
    dataset: Dataset, validation_size: float, seed: int
) -> tuple[list[Example], list[Example]]:
    train, val = train_test_split(
        dataset.examples, test_size=validation_size, random_state=seed, stratify=dataset.tags
    )
    return list(train), list(val)


def train(dataset: Dataset, config: TrainConfig, out_dir: Path) -> dict[str, Any]:
    """Returns the artifact's metadata; the artifact itself is at `out_dir`."""
    started = time.perf_counter()
    train_examples, val_examples = split(dataset, config.validation_size, config.split_seed)
    model = fit(train_examples, config.fasttext)
    classifier = Classifier(model)
    report = evaluate_examples(classifier, val_examples, threshold=None)
    confidences = [p["confidence"] for p in report.pop("_predictions")]
    correct = [p["correct"] for p in report.pop("_outcomes")]
    selective = calibrate_threshold(confidences, correct, config.target_precision)
    if not selective.met:
        log.warning(
            "no threshold reaches precision %.3f on validation; every event will go to review",
            config.target_precision,
        )
    report["selective"] = {
        "threshold": selective.threshold,
        "coverage": selective.coverage,
        "precision": selective.precision,
    }
    trained_on = "train"
    if config.refit_on_all:
        model = fit(dataset.examples, config.fasttext)
        trained_on = "train+validation"
    write_artifact(
        out_dir,
        model,
        threshold=selective.threshold,
        target_precision=config.target_precision,
        validation_metrics=report,
        fasttext_params=config.fasttext.as_kwargs(),
        data_sha256=dataset.sha256,
        data_source=dataset.source,
        extra={
            "trained_on": trained_on,
            "num_train": len(train_examples),
            "num_validation": len(val_examples),
            "split_seed": config.split_seed,
            "training_seconds": round(time.perf_counter() - started, 3),
        },
    )
    return load_artifact(out_dir).metadata

"""Hyperparameter search with fastText's autotune on the validation split, within a time budget."""

import tempfile
from pathlib import Path
from typing import Any

import fasttext

from training.config import FastTextParams, TrainConfig
from training.data import Dataset
from training.train import split, write_fasttext_file

_TUNED = ("lr", "dim", "ws", "epoch", "minCount", "wordNgrams", "bucket", "minn", "maxn")


def autotune(dataset: Dataset, base: TrainConfig, budget_seconds: int) -> TrainConfig:
    """Autotune optimises one model's validation F1; the result is a single-model config that
    `train` reproduces exactly (compare it with the default ensemble using `cv`)."""
    train_examples, val_examples = split(dataset, base.validation_size, base.split_seed)
    with tempfile.TemporaryDirectory() as tmp:
        train_file, val_file = Path(tmp) / "train.txt", Path(tmp) / "val.txt"
        write_fasttext_file(train_examples, train_file, base.augment)
        write_fasttext_file(val_examples, val_file)
        model = fasttext.train_supervised(
            input=str(train_file),
            autotuneValidationFile=str(val_file),
            autotuneDuration=int(budget_seconds),
            thread=1,
            verbose=0,
        )
    args = model.f.getArgs()
    found: dict[str, Any] = {name: getattr(args, name) for name in _TUNED}
    found["loss"] = str(args.loss).rsplit(".", 1)[-1]
    params = FastTextParams(**{**base.models[0].model_dump(), **found})
    return base.model_copy(update={"models": [params]})

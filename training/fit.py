"""How one ensemble is fitted: the fastText training lines (with augmentation) and one fit per
member, each in a fresh interpreter."""

import random
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import fasttext

from inference.classifier import LABEL_PREFIX, Classifier
from inference.text import normalise_text, views_normalised
from training.config import FastTextParams, TrainConfig
from training.data import Example
from training.fit_worker import train_to_file


def training_lines(examples: Sequence[Example], augment: bool, seed: int = 0) -> list[str]:
    """One fastText line per example; with `augment`, also its title-only and description-only
    views, shuffled. The extra views teach the model to tag short texts (model card)."""
    lines = []
    for e in examples:
        label = f"{LABEL_PREFIX}{e.tag}"
        views = views_normalised(normalise_text(e.title), normalise_text(e.description))
        lines.append(f"{label} {' '.join(views.full)}")
        if augment:
            lines += [f"{label} {' '.join(v)}" for v in (views.title, views.description) if v]
    if augment:
        random.Random(seed).shuffle(lines)
    return lines


def write_fasttext_file(
    examples: Sequence[Example], path: Path, augment: bool = False, seed: int = 0
) -> None:
    path.write_text("".join(f"{line}\n" for line in training_lines(examples, augment, seed)))


def fit(examples: Sequence[Example], params: FastTextParams, augment: bool = False) -> Any:
    """Train in a pristine child process (see `training.fit_worker`), then load the model here."""
    with tempfile.TemporaryDirectory() as tmp:
        train_file, model_file = Path(tmp) / "train.txt", Path(tmp) / "model.bin"
        write_fasttext_file(examples, train_file, augment, params.seed)
        train_to_file(str(train_file), params.as_kwargs(), str(model_file))
        return fasttext.load_model(str(model_file))


def fit_all(examples: Sequence[Example], config: TrainConfig) -> list[Any]:
    return [fit(examples, params, config.augment) for params in config.models]


def fit_classifier(examples: Sequence[Example], config: TrainConfig) -> Classifier:
    return Classifier(fit_all(examples, config), config.description_view_weight)

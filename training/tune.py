"""Random search over fastText settings within a time budget, scored on the validation split.

fastText's own autotune runs every trial in one process, and fastText 0.9.3 carries native state
from one training to the next (a later training can abort with "Encountered NaN"), so each trial
here trains through `fit` in a fresh interpreter, the same way `train` does. The first trial is the
base config, so tuning never returns something worse on the split than what it started from.
"""

import logging
import random
import time
from collections.abc import Iterator
from typing import Any

from sklearn.metrics import f1_score

from training.config import TrainConfig
from training.data import Dataset
from training.fit import fit_classifier
from training.train import split

log = logging.getLogger(__name__)

SPACE: dict[str, list[Any]] = {
    "lr": [0.1, 0.25, 0.5, 0.75, 1.0],
    "dim": [10, 20, 50],
    "epoch": [25, 50, 100, 150],
    "wordNgrams": [1, 2, 3],
    "loss": ["ova", "softmax"],
}
CHAR_NGRAMS = [(2, 4), (3, 5), (3, 6), (4, 6)]


def candidates(base: TrainConfig, seed: int = 0) -> Iterator[TrainConfig]:
    """The base config, then random variations applied to every ensemble member alike."""
    yield base
    rng = random.Random(seed)
    while True:
        shared = {name: rng.choice(values) for name, values in SPACE.items()}
        minn, maxn = rng.choice(CHAR_NGRAMS)
        models = []
        for member in base.models:
            update = dict(shared)
            if member.maxn > 0:  # members with character n-grams try other n-gram ranges
                update.update(minn=minn, maxn=maxn)
            models.append(member.model_copy(update=update))
        yield base.model_copy(update={"models": models})


def search(
    dataset: Dataset, base: TrainConfig, budget_seconds: float, seed: int = 0
) -> tuple[TrainConfig, list[dict[str, Any]]]:
    """Best config by validation weighted F1, and every trial's result."""
    train_examples, val_examples = split(dataset, base.validation_size, base.split_seed)
    truth = [e.tag for e in val_examples]
    deadline = time.monotonic() + budget_seconds
    best, best_f1 = base, -1.0
    trials: list[dict[str, Any]] = []
    for config in candidates(base, seed):
        if trials and time.monotonic() >= deadline:
            break
        try:
            classifier = fit_classifier(train_examples, config)
        except RuntimeError as exc:  # a diverging setting ("Encountered NaN"): skip it
            trials.append({"models": [m.model_dump() for m in config.models], "error": str(exc)})
            continue
        predicted = [
            p[0] for p in classifier.predict_many([(e.title, e.description) for e in val_examples])
        ]
        score = float(f1_score(truth, predicted, average="weighted", zero_division=0))
        trials.append({"models": [m.model_dump() for m in config.models], "f1": score})
        log.info("trial %d: weighted F1 %.4f", len(trials), score)
        if score > best_f1:
            best, best_f1 = config, score
    return best, trials

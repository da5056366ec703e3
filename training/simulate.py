"""`python -m training simulate-review`: does labelling what the model routes to review pay?

The experiment replays the review loop offline on the labelled data set. A fixed stratified
held-out split scores every model. The rest is split into an initial training part and a pool that
plays the stream: a model trained on the initial part, with a review threshold calibrated as
training calibrates it, classifies the pool, and "reviewers" (the true labels) decide every item
below the threshold. The model retrained on initial + reviewed items is compared with the initial
model, and with models trained on initial + as many pool items chosen at random (the same labelling
effort spent without the model's help, over several seeds), and with initial + the whole pool
(every item labelled: the most the pool can give).
"""

import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

from inference.classifier import Prediction
from training.calibrate import calibrate_threshold
from training.config import TrainConfig
from training.crossval import out_of_fold
from training.data import Example
from training.fit import fit_classifier


class Predictor(Protocol):
    def predict_many(self, pairs: Sequence[tuple[str, str]]) -> Sequence[Prediction]: ...


Fit = Callable[[Sequence[Example], TrainConfig], Predictor]
OutOfFold = Callable[[Sequence[Example], TrainConfig, int, int], list[Prediction]]


def _pairs(examples: Sequence[Example]) -> list[tuple[str, str]]:
    return [(e.title, e.description) for e in examples]


def weighted_f1(model: Predictor, examples: Sequence[Example]) -> float:
    predicted = [p[0] for p in model.predict_many(_pairs(examples))]
    return float(
        f1_score([e.tag for e in examples], predicted, average="weighted", zero_division=0)
    )


def _split(
    examples: Sequence[Example], second_share: float, seed: int
) -> tuple[list[Example], list[Example]]:
    first, second = train_test_split(
        list(examples),
        test_size=second_share,
        random_state=seed,
        stratify=[e.tag for e in examples],
    )
    return list(first), list(second)


def simulate_once(
    examples: Sequence[Example],
    config: TrainConfig,
    *,
    seed: int = 42,
    initial_share: float = 0.5,
    held_out_share: float = 0.2,
    random_repeats: int = 3,
    fit: Fit = fit_classifier,
    calibrate_on: OutOfFold = out_of_fold,
) -> dict[str, Any]:
    """One run of the experiment on the splits `seed` draws (JSON-ready). `config.calibration_folds`
    (at least 2) sets the out-of-fold calibration of the initial model's threshold, as
    `training.train` does it. `fit` and `calibrate_on` are the real training unless a test
    replaces them."""
    if not 0.0 < initial_share < 1.0:
        raise ValueError("initial_share is a fraction strictly between 0 and 1")
    if config.calibration_folds < 2:
        raise ValueError("the experiment calibrates out of fold: calibration_folds >= 2")
    rest, held_out = _split(examples, held_out_share, seed)
    initial, pool = _split(rest, 1.0 - initial_share, seed)

    initial_model = fit(initial, config)
    oof = calibrate_on(initial, config, config.calibration_folds, seed)
    selective = calibrate_threshold(
        [p[1] for p in oof],
        [p[0] == e.tag for p, e in zip(oof, initial, strict=True)],
        config.target_precision,
    )

    # The pool streams through the initial model; it is not updated while the stream runs.
    predictions = initial_model.predict_many(_pairs(pool))
    routed = [i for i, p in enumerate(predictions) if p[1] < selective.threshold]
    auto = [i for i, p in enumerate(predictions) if p[1] >= selective.threshold]
    reviewed = [pool[i] for i in routed]
    corrections = sum(predictions[i][0] != pool[i].tag for i in routed)
    auto_correct = sum(predictions[i][0] == pool[i].tag for i in auto)

    before = weighted_f1(initial_model, held_out)
    after = weighted_f1(fit(initial + reviewed, config), held_out)
    random_seeds = [seed * 1000 + r for r in range(random_repeats)]
    random_scores = [
        weighted_f1(fit(initial + random.Random(s).sample(pool, len(reviewed)), config), held_out)
        for s in random_seeds
    ]
    everything = weighted_f1(fit(initial + pool, config), held_out)
    return {
        "seed": seed,
        "rows": {"held_out": len(held_out), "initial": len(initial), "pool": len(pool)},
        "threshold": selective.threshold,
        "threshold_met": selective.met,
        "routed_to_review": len(reviewed),
        "reviewer_decisions": {"confirm": len(reviewed) - corrections, "correct": corrections},
        "auto_tagged": len(auto),
        "auto_tagged_correct": auto_correct,
        "weighted_f1": {
            "initial": before,
            "initial_plus_reviewed": after,
            "initial_plus_random": statistics.fmean(random_scores) if random_scores else None,
            "initial_plus_random_per_seed": dict(
                zip(map(str, random_seeds), random_scores, strict=True)
            ),
            "initial_plus_whole_pool": everything,
        },
    }


ARMS = ("initial", "initial_plus_reviewed", "initial_plus_random", "initial_plus_whole_pool")


def _mean_sd(values: Sequence[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "sd": statistics.pstdev(values)}


def simulate_review(
    examples: Sequence[Example],
    config: TrainConfig,
    *,
    seed: int = 42,
    repeats: int = 10,
    initial_share: float = 0.5,
    held_out_share: float = 0.2,
    random_repeats: int = 3,
    fit: Fit = fit_classifier,
    calibrate_on: OutOfFold = out_of_fold,
) -> dict[str, Any]:
    """The experiment on `repeats` independent splits (seeds `seed`, `seed + 1`, ...): one
    held-out split of a few hundred rows moves weighted F1 by several hundredths from one seed to
    the next, more than the effect measured, so every arm is compared on the same splits and
    summarised over them (`paired`: reviewed minus random, split by split)."""
    if repeats < 1 or random_repeats < 1:
        raise ValueError("repeats and random_repeats are at least 1")
    started = time.perf_counter()
    runs = [
        simulate_once(
            examples,
            config,
            seed=seed + r,
            initial_share=initial_share,
            held_out_share=held_out_share,
            random_repeats=random_repeats,
            fit=fit,
            calibrate_on=calibrate_on,
        )
        for r in range(repeats)
    ]
    f1 = {arm: _mean_sd([run["weighted_f1"][arm] for run in runs]) for arm in ARMS}
    gains = [
        run["weighted_f1"]["initial_plus_reviewed"] - run["weighted_f1"]["initial_plus_random"]
        for run in runs
    ]
    routed = sum(run["routed_to_review"] for run in runs)
    auto = sum(run["auto_tagged"] for run in runs)
    return {
        "seeds": [run["seed"] for run in runs],
        "rows": {"total": len(examples), **runs[0]["rows"]},
        "initial_share": initial_share,
        "held_out_share": held_out_share,
        "random_repeats": random_repeats,
        "calibration_folds": config.calibration_folds,
        "target_precision": config.target_precision,
        "threshold": _mean_sd([run["threshold"] for run in runs]),
        "thresholds_met": sum(run["threshold_met"] for run in runs),
        "routed_to_review": _mean_sd([run["routed_to_review"] for run in runs]),
        "corrected_share_of_reviewed": (
            sum(run["reviewer_decisions"]["correct"] for run in runs) / routed if routed else None
        ),
        "auto_tagged_precision": (
            sum(run["auto_tagged_correct"] for run in runs) / auto if auto else None
        ),
        "weighted_f1": f1,
        "reviewed_minus_random": {
            **_mean_sd(gains),
            "reviewed_better": sum(g > 0 for g in gains),
            "splits": len(gains),
        },
        "runs": runs,
        "seconds": round(time.perf_counter() - started, 1),
    }


def markdown(report: dict[str, Any]) -> str:
    """The report as the model card's table, with the settings that produced it."""
    rows, f1, n = report["rows"], report["weighted_f1"], len(report["seeds"])
    k = report["routed_to_review"]["mean"]
    initial, pool = rows["initial"], rows["pool"]

    def cell(arm: str) -> str:
        return f"{f1[arm]['mean']:.3f} ± {f1[arm]['sd']:.3f}"

    def gain(arm: str) -> str:
        return f"{f1[arm]['mean'] - f1['initial']['mean']:+.3f}"

    paired = report["reviewed_minus_random"]
    precision = report["auto_tagged_precision"]
    corrected = report["corrected_share_of_reviewed"]
    lines = [
        f"| Trained on | Labelled pool items | Weighted F1 on held-out (mean ± sd, {n} splits) "
        "| vs initial |",
        "|---|---:|---:|---:|",
        f"| initial part only ({initial} rows) | 0 | {cell('initial')} | |",
        f"| initial + the items routed to review | {k:.0f} | {cell('initial_plus_reviewed')} | "
        f"{gain('initial_plus_reviewed')} |",
        f"| initial + as many random pool items ({report['random_repeats']} draws per split) | "
        f"{k:.0f} | {cell('initial_plus_random')} | {gain('initial_plus_random')} |",
        f"| initial + the whole pool (every item labelled) | {pool} | "
        f"{cell('initial_plus_whole_pool')} | {gain('initial_plus_whole_pool')} |",
        "",
        f"Reviewed minus random, split by split: {paired['mean']:+.3f} ± {paired['sd']:.3f}; "
        f"the reviewed items gave the better model in {paired['reviewed_better']} of "
        f"{paired['splits']} splits.",
        "",
        f"Splits (seeds {', '.join(map(str, report['seeds']))}): {rows['held_out']} held-out rows "
        f"({report['held_out_share']:.0%}, stratified), initial part {initial} rows "
        f"({report['initial_share']:.0%} of the rest), pool {pool} rows streamed through the "
        f"initial model. Review threshold {report['threshold']['mean']:.3f} ± "
        f"{report['threshold']['sd']:.3f} (target precision {report['target_precision']}, met in "
        f"{report['thresholds_met']} of {n}), calibrated out of fold with "
        f"{report['calibration_folds']} folds on the initial part. "
        f"{k:.0f} of {pool} pool items ({k / pool:.0%}) went to review"
        + (f", and reviewers corrected {corrected:.0%} of them" if corrected is not None else "")
        + (
            f"; the items tagged without review were {precision:.1%} correct."
            if precision is not None
            else "; none was tagged without review."
        ),
    ]
    return "\n".join(lines) + "\n"

"""Training settings: defaults chosen by repeated cross-validation (docs/model-card.md),
overridable by a JSON file (`--config`), which `tune` also writes."""

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class FastTextParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lr: float = 0.5
    dim: int = 10
    ws: int = 5
    epoch: int = 100
    minCount: int = 1
    wordNgrams: int = 2
    # One-vs-all beat softmax in repeated CV (model card) and is stable at lr 0.5 with dim 10.
    # Each tag gets its own sigmoid probability, so they need not sum to one. No "hs": serving's
    # batched inference (inference.batch_predict) has no hierarchical-softmax tree walk.
    loss: Literal["softmax", "ova", "ns"] = "ova"
    bucket: int = 200_000
    minn: int = 3
    maxn: int = 5
    thread: int = 1
    seed: int = 0

    def as_kwargs(self) -> dict[str, Any]:
        return self.model_dump()


def _default_models() -> list[FastTextParams]:
    return [FastTextParams(), FastTextParams(minn=0, maxn=0)]


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[FastTextParams] = Field(
        default_factory=_default_models,
        min_length=1,
        description="Ensemble members, probabilities averaged: char + word n-grams by default.",
    )
    validation_size: float = Field(0.2, gt=0.0, lt=1.0)
    split_seed: int = 42
    target_precision: float = Field(0.95, gt=0.0, le=1.0)
    augment: bool = Field(
        True, description="Also train on title-only and description-only views of each example."
    )
    description_view_weight: float = Field(
        0.25,
        ge=0.0,
        allow_inf_nan=False,
        description="Prediction blends the full view's probabilities with the description-only "
        "view's at this weight (chosen by repeated CV, see the model card; 0: full view only).",
    )
    calibration_folds: int = Field(
        5,
        ge=0,
        description="Calibrate the review threshold on out-of-fold predictions over every row "
        "(k folds; 0: on the validation split alone, 5x fewer points).",
    )
    refit_on_all: bool = Field(
        True,
        description="After validating and calibrating, retrain on train+validation with the same "
        "settings; the shipped model then sees all labelled data.",
    )

    @field_validator("calibration_folds")
    @classmethod
    def _folds_or_none(cls, value: int) -> int:
        if value == 1:
            raise ValueError("calibration_folds is 0 (validation split) or at least 2")
        return value

    @classmethod
    def from_file(cls, path: Path | None) -> "TrainConfig":
        if path is None:
            return cls()
        return cls.model_validate(json.loads(Path(path).read_text()))

    def write(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n")

"""Training settings: defaults chosen by repeated cross-validation (see README), overridable by a
JSON file (`--config`), which `tune` also writes."""

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class FastTextParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lr: float = 0.5
    dim: int = 50
    ws: int = 5
    epoch: int = 50
    minCount: int = 1  # noqa: N815 (fastText's own argument names)
    wordNgrams: int = 2  # noqa: N815
    loss: Literal["softmax", "ova", "hs", "ns"] = "softmax"
    bucket: int = 200_000
    minn: int = 3
    maxn: int = 5
    thread: int = 1
    seed: int = 0

    def as_kwargs(self) -> dict[str, Any]:
        return self.model_dump()


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fasttext: FastTextParams = Field(default_factory=FastTextParams)
    validation_size: float = Field(0.2, gt=0.0, lt=1.0)
    split_seed: int = 42
    target_precision: float = Field(0.95, gt=0.0, le=1.0)
    refit_on_all: bool = Field(
        True,
        description="After validating and calibrating, retrain on train+validation with the same "
        "settings; the shipped model then sees all labelled data.",
    )

    @classmethod
    def from_file(cls, path: Path | None) -> "TrainConfig":
        if path is None:
            return cls()
        return cls.model_validate(json.loads(Path(path).read_text()))

    def write(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n")

"""The model artifact's `metadata.json`: one pydantic model, validated on every load.

Training writes it (`training.write`), the service loads it (`inference.artifact`), and
`python -m schemas export DIR` publishes its JSON Schema beside the topics' records.
"""

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

FORMAT_VERSION: Final = 4
"""Bumped whenever a loader of an older format would misread an artifact (4: the version also
hashes `created_at`, so every training run writes an artifact of its own version)."""

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class ModelFile(BaseModel):
    """One fastText member of the ensemble: its file name in the artifact and its checksum."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: Annotated[str, StringConstraints(min_length=1)]
    sha256: Sha256
    fasttext_params: dict[str, Any] = Field(default_factory=dict)


class PredictionSettings(BaseModel):
    """How the members' outputs are blended into one answer; part of the artifact's version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description_view_weight: Annotated[float, Field(ge=0.0, allow_inf_nan=False, strict=True)]


class FeedbackSummary(BaseModel):
    """The labels from people (`train --feedback`) a model was trained on beside the data set: how
    many, which tags, and the file's checksum, so a model's training data can be traced."""

    model_config = ConfigDict(extra="allow", frozen=True)

    rows: Annotated[int, Field(ge=0)]
    labels: dict[str, Annotated[int, Field(ge=0)]]
    sha256: Sha256
    source: str | None = None
    replaced: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="Data set rows a feedback row replaced (same id or same text)."
    )


class ReferenceDistributions(BaseModel):
    """The model's answers on data it did not train on (out-of-fold predictions over the data set,
    or the validation split): the share of each approved tag and a histogram of the top
    confidence. The drift monitor's PSI is computed against these."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    num_samples: Annotated[int, Field(gt=0)]
    tag_share: dict[str, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(
        description="Every approved tag's share of the top answers; sums to 1."
    )
    confidence_edges: Annotated[list[float], Field(min_length=2)] = Field(
        description="Histogram bin edges over [0, 1], ascending; bin i is [edges[i], edges[i+1])"
        " and the last bin includes 1."
    )
    confidence_share: list[Annotated[float, Field(ge=0.0, le=1.0)]] = Field(
        description="Share of top confidences in each bin (len(edges) - 1 values); sums to 1."
    )


class ArtifactMetadata(BaseModel):
    """What an artifact is, what it was trained on and how it scored.

    Fields the service relies on are typed and checked; reports that only people read
    (`validation_metrics`, `calibration`) stay free-form. Unknown keys are kept, so an artifact
    written by newer training code still loads as long as its format version matches.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    format_version: Literal[4]
    version: Annotated[str, StringConstraints(min_length=1)]
    created_at: Annotated[str, StringConstraints(min_length=1)]
    labels: list[str]
    prediction: PredictionSettings
    threshold: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
    target_precision: float | None = None
    models: Annotated[list[ModelFile], Field(min_length=1)]
    validation_metrics: dict[str, Any] = Field(default_factory=dict)
    calibration: dict[str, Any] = Field(default_factory=dict)
    data_sha256: str | None = None
    data_source: str | None = None
    library_versions: dict[str, str] = Field(default_factory=dict)
    trained_on: str | None = None
    num_train: int | None = None
    num_validation: int | None = None
    split_seed: int | None = None
    training_seconds: float | None = None
    feedback: FeedbackSummary | None = None
    reference: ReferenceDistributions | None = Field(
        default=None,
        description="What traffic the model was trained for looks like to it: the service's drift "
        "monitor compares live traffic against this.",
    )

"""Tracked training runs: every `python -m training train` is logged to MLflow, so the model in
service can be traced back to the run, its settings, its data and its scores.

Where: `MLFLOW_TRACKING_URI` (default `sqlite:///mlflow.db`, a file in the working directory; any
MLflow server URI works the same) under the experiment `MLFLOW_EXPERIMENT_NAME` (default
`content-tagger`). What: the `TrainConfig` flattened, the data set's checksum and source, the
feedback summary; every number of the validation report and the calibration; the validation
plots; and the artifact directory itself (artifact path `model`), which the registry
(`training.registry`) registers as a model version.

MLflow is imported inside the functions: `python -m training --help` and the other commands do not
pay for it, and the service never imports this module (import-linter keeps `training` out of it).
"""

import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlparse

from training.config import TrainConfig

if TYPE_CHECKING:
    from mlflow import MlflowClient

DEFAULT_TRACKING_URI: Final = "sqlite:///mlflow.db"
DEFAULT_EXPERIMENT: Final = "content-tagger"
MODEL_ARTIFACT_PATH: Final = "model"
"""Where in a run the artifact directory is logged; the registry registers that folder."""
PLOTS_ARTIFACT_PATH: Final = "plots"
ARTIFACT_VERSION_TAG: Final = "artifact_version"
"""Run and model-version tag holding the artifact's own `version` (its metadata), which the
service reports; MLflow's version numbers are the registry's, not the artifact's."""
DATA_SHA256_TAG: Final = "data_sha256"

# MLflow's limits per log_batch call (params 100, metrics 1000) and per param value (6000 chars).
_PARAMS_PER_BATCH, _METRICS_PER_BATCH, _MAX_PARAM_CHARS = 100, 1000, 6000


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI`, else a sqlite file in the working directory (no server needed)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def experiment_name() -> str:
    return os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT


def client(uri: str | None = None) -> "MlflowClient":
    """A client of one tracking store and its registry (the same URI), without touching MLflow's
    process-wide default, so tests and tools can talk to several stores."""
    from mlflow import MlflowClient

    resolved = uri or tracking_uri()
    return MlflowClient(tracking_uri=resolved, registry_uri=resolved)


def _sqlite_artifact_location(uri: str) -> str | None:
    """For a `sqlite:///path/x.db` store: `path/mlartifacts`, beside the database.

    MLflow would otherwise put a new experiment's artifacts in `./mlruns` of whatever directory the
    command ran in, so the same database would point at folders scattered over working
    directories. Servers (http, databricks, ...) choose their own artifact store: None.
    """
    parsed = urlparse(uri)
    if parsed.scheme != "sqlite":
        return None
    db_path = uri[len("sqlite:///") :]
    if not db_path or db_path == ":memory:":
        return None
    return str((Path(db_path).resolve().parent / "mlartifacts").as_uri())


def experiment_id(mlflow_client: "MlflowClient", name: str | None = None) -> str:
    """The experiment's id, creating it on first use (with its artifacts beside a sqlite store)."""
    name = name or experiment_name()
    found = mlflow_client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    return str(
        mlflow_client.create_experiment(
            name, artifact_location=_sqlite_artifact_location(mlflow_client.tracking_uri)
        )
    )


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Nested dicts and lists as dotted keys (`models.0.lr`), leaves as they are."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from flatten(item, f"{prefix}.{index}" if prefix else str(index))
    else:
        yield prefix, value


def run_params(config: TrainConfig, metadata: Mapping[str, Any]) -> dict[str, str]:
    """What the run was given: every training setting, the data, the labels from people."""
    params: dict[str, Any] = dict(flatten(config.model_dump()))
    params["data.sha256"] = metadata.get("data_sha256")
    params["data.source"] = metadata.get("data_source")
    params["data.num_train"] = metadata.get("num_train")
    params["data.num_validation"] = metadata.get("num_validation")
    feedback = metadata.get("feedback")
    if feedback:
        params.update(dict(flatten(feedback, "feedback")))
    return {key: str(value)[:_MAX_PARAM_CHARS] for key, value in params.items()}


def _numbers(value: Any, prefix: str) -> dict[str, float]:
    return {
        key: float(item)
        for key, item in flatten(value, prefix)
        if isinstance(item, int | float) and not isinstance(item, bool)
    }


def run_metrics(metadata: Mapping[str, Any]) -> dict[str, float]:
    """How the run scored: overall, per class, per slice and selective (`val.*`, the validation
    split), the calibrated threshold with its coverage and precision (`calibration.*`), and the
    reference tag shares (`reference.tag_share.*`)."""
    metrics = _numbers(metadata.get("validation_metrics", {}), "val")
    metrics.update(_numbers(metadata.get("calibration", {}), "calibration"))
    reference = metadata.get("reference") or {}
    metrics.update(_numbers(reference.get("tag_share", {}), "reference.tag_share"))
    if metadata.get("training_seconds") is not None:
        metrics["training_seconds"] = float(metadata["training_seconds"])
    return metrics


@dataclass(frozen=True, slots=True)
class TrackedRun:
    """A logged training run: where it is and where its artifact directory was logged.

    :param run_id: the MLflow run.
    :param experiment_id: its experiment.
    :param tracking_uri: the store it was logged to (its registry too).
    :param model_uri: the logged artifact directory (`<run artifacts>/model`), what the registry
        registers as a model version's source.
    """

    run_id: str
    experiment_id: str
    tracking_uri: str
    model_uri: str

    def summary(self) -> dict[str, str]:
        return {
            "run_id": self.run_id,
            "experiment_id": self.experiment_id,
            "tracking_uri": self.tracking_uri,
            "model_uri": self.model_uri,
        }


def log_training_run(
    metadata: Mapping[str, Any],
    config: TrainConfig,
    artifact_dir: Path,
    plots_dir: Path | None = None,
    *,
    uri: str | None = None,
    experiment: str | None = None,
) -> TrackedRun:
    """Log one finished training run: params, metrics, plots, the artifact; tag it with the
    artifact's version and data checksum. A run that fails half-way is marked FAILED, not left
    RUNNING.

    :param metadata: the artifact's metadata, as `training.train.train` returns it.
    :param config: the settings it was trained with.
    :param artifact_dir: the artifact directory, logged whole under `model`.
    :param plots_dir: the validation plots, logged under `plots` when given.
    :param uri: tracking URI (default `tracking_uri()`).
    :param experiment: experiment name (default `experiment_name()`).
    """
    from mlflow.entities import Metric, Param

    mlflow_client = client(uri)
    version = str(metadata["version"])
    tags = {ARTIFACT_VERSION_TAG: version}
    if metadata.get("data_sha256"):
        tags[DATA_SHA256_TAG] = str(metadata["data_sha256"])
    run = mlflow_client.create_run(
        experiment_id(mlflow_client, experiment), tags=tags, run_name=f"train-{version[:12]}"
    )
    run_id = run.info.run_id
    try:
        params = [Param(k, v) for k, v in run_params(config, metadata).items()]
        for start in range(0, len(params), _PARAMS_PER_BATCH):
            mlflow_client.log_batch(run_id, params=params[start : start + _PARAMS_PER_BATCH])
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, 0) for k, v in run_metrics(metadata).items()]
        for start in range(0, len(metrics), _METRICS_PER_BATCH):
            mlflow_client.log_batch(run_id, metrics=metrics[start : start + _METRICS_PER_BATCH])
        if plots_dir is not None and plots_dir.is_dir():
            mlflow_client.log_artifacts(run_id, str(plots_dir), PLOTS_ARTIFACT_PATH)
        mlflow_client.log_artifacts(run_id, str(artifact_dir), MODEL_ARTIFACT_PATH)
    except BaseException:
        mlflow_client.set_terminated(run_id, status="FAILED")
        raise
    mlflow_client.set_terminated(run_id, status="FINISHED")
    return TrackedRun(
        run_id=run_id,
        experiment_id=run.info.experiment_id,
        tracking_uri=mlflow_client.tracking_uri,
        model_uri=f"{run.info.artifact_uri.rstrip('/')}/{MODEL_ARTIFACT_PATH}",
    )

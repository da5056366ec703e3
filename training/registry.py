"""The model registry: versions of a registered model, the `champion` and `challenger` aliases,
gated promotion and rollback. Backed by MLflow's registry at `MLFLOW_TRACKING_URI` (a sqlite file
locally, any MLflow server in production); the service follows `models:/NAME@champion`.

- `register`: a tracked run's logged artifact becomes a new version (tagged with the artifact's own
  `version` and data checksum); it becomes `champion` only when the model has none yet.
- `promote`: moves an alias to a version, only if the candidate passes the model tests
  (`tests/model`) and its weighted F1 on a fixed evaluation set is at most `max_f1_drop` below the
  champion's; `force` promotes regardless (the report still says how it scored).
- `rollback`: `champion` back to the version it replaced.

Champion history: the registered model's tag `champion_history` holds a JSON list of the versions
that were champion before the current one, oldest first. Promoting a new champion appends the
outgoing one; rollback pops the last entry and makes it champion again (so repeated rollbacks walk
further back). Promoting the `challenger` to champion also removes the `challenger` alias, so the
service does not shadow-score the champion against itself.
"""

import json
import logging
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from training.data import Example
from training.tracking import ARTIFACT_VERSION_TAG, DATA_SHA256_TAG, TrackedRun

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

CHAMPION: Final = "champion"
CHALLENGER: Final = "challenger"
Alias = Literal["champion", "challenger"]
HISTORY_TAG: Final = "champion_history"
HISTORY_LIMIT: Final = 100
"""Champions remembered for rollback; older ones drop off (the tag's value has a size limit)."""
DEFAULT_MAX_F1_DROP: Final = 0.02
REPO_ROOT: Final = Path(__file__).resolve().parent.parent
MODEL_TESTS: Final = Path("tests") / "model"


class RegistryError(Exception):
    """A registry operation that cannot be done as asked (no such version, nothing to roll back
    to); the message says why, for the operator."""


@dataclass(frozen=True, slots=True)
class RegisteredVersion:
    """A version created by `register`.

    :param name: the registered model.
    :param version: the registry's version number.
    :param artifact_version: the artifact's own version (its metadata), what the service reports.
    :param champion: whether it became `champion` (the model had none).
    """

    name: str
    version: int
    artifact_version: str
    champion: bool


@dataclass(frozen=True, slots=True)
class ModelTestResult:
    """Outcome of the model tests on a candidate.

    :param passed: the tests ran and passed.
    :param command: what was run (empty when nothing could be).
    :param returncode: pytest's exit code, None when the tests were not run.
    :param output: the tail of their output, for the report.
    """

    passed: bool
    command: list[str]
    returncode: int | None
    output: str = ""


ModelTestRunner = Callable[[Path], ModelTestResult]


def model_test_command(model_dir: Path) -> list[str]:
    """`pytest -q tests/model --model-dir DIR`, as `make model` runs it."""
    return [sys.executable, "-m", "pytest", "-q", str(MODEL_TESTS), "--model-dir", str(model_dir)]


def run_model_tests(model_dir: Path, root: Path = REPO_ROOT) -> ModelTestResult:
    """The behavioural and quality tests (`tests/model`) on an artifact, in a subprocess from the
    repository root; a failed result when the tests are not there (an installed package without
    the repository), since an untested model must not be promoted without `force`."""
    if not (root / MODEL_TESTS).is_dir():
        return ModelTestResult(
            passed=False,
            command=[],
            returncode=None,
            output=f"{root / MODEL_TESTS} not found: run promote from a checkout of the repository",
        )
    command = model_test_command(model_dir)
    done = subprocess.run(
        command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False
    )
    tail = "\n".join(done.stdout.splitlines()[-20:])
    return ModelTestResult(
        passed=done.returncode == 0, command=command, returncode=done.returncode, output=tail
    )


def _aliases(mlflow_client: "MlflowClient", name: str) -> dict[str, int]:
    return {a: int(v) for a, v in mlflow_client.get_registered_model(name).aliases.items()}


def _history(mlflow_client: "MlflowClient", name: str) -> list[int]:
    raw = mlflow_client.get_registered_model(name).tags.get(HISTORY_TAG)
    return [int(v) for v in json.loads(raw)] if raw else []


def _set_history(mlflow_client: "MlflowClient", name: str, history: list[int]) -> None:
    mlflow_client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history[-HISTORY_LIMIT:]))


def _require_model(mlflow_client: "MlflowClient", name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        mlflow_client.get_registered_model(name)
    except MlflowException as exc:
        where = mlflow_client.tracking_uri
        raise RegistryError(f"no registered model {name!r} at {where}") from exc


def _require_version(mlflow_client: "MlflowClient", name: str, version: int) -> None:
    from mlflow.exceptions import MlflowException

    _require_model(mlflow_client, name)
    try:
        mlflow_client.get_model_version(name, str(version))
    except MlflowException as exc:
        raise RegistryError(f"{name!r} has no version {version}") from exc


def register(
    mlflow_client: "MlflowClient", name: str, run: TrackedRun, metadata: dict[str, Any]
) -> RegisteredVersion:
    """A tracked run's artifact as a new version of `name` (created on first use); `champion` if
    the model has none yet, so the first model registered is the one served.

    :param mlflow_client: a client of the store the run was logged to.
    :param name: the registered model, e.g. `content-tagger`.
    :param run: the logged run (`training.tracking.log_training_run`).
    :param metadata: the artifact's metadata (its `version` and `data_sha256` become tags).
    """
    from mlflow.exceptions import MlflowException

    try:
        mlflow_client.get_registered_model(name)
    except MlflowException:
        mlflow_client.create_registered_model(
            name, description="Content tagger artifacts (`python -m training train --register`)."
        )
    tags = {ARTIFACT_VERSION_TAG: str(metadata["version"])}
    if metadata.get("data_sha256"):
        tags[DATA_SHA256_TAG] = str(metadata["data_sha256"])
    created = mlflow_client.create_model_version(
        name, source=run.model_uri, run_id=run.run_id, tags=tags
    )
    version = int(created.version)
    champion = CHAMPION not in _aliases(mlflow_client, name)
    if champion:
        mlflow_client.set_registered_model_alias(name, CHAMPION, str(version))
    log.info(
        "registered model version",
        extra={"model": name, "version": version, "champion": champion, "run_id": run.run_id},
    )
    return RegisteredVersion(name, version, tags[ARTIFACT_VERSION_TAG], champion)


def download(mlflow_client: "MlflowClient", name: str, version: int, dst: Path) -> Path:
    """Version `version`'s artifact directory, copied into `dst`; returns the directory to load."""
    import mlflow.artifacts

    source = mlflow_client.get_model_version_download_uri(name, str(version))
    path = mlflow.artifacts.download_artifacts(
        artifact_uri=source, dst_path=str(dst), tracking_uri=mlflow_client.tracking_uri
    )
    return Path(path)


@dataclass(frozen=True, slots=True)
class Score:
    """A version's weighted F1 on the evaluation set.

    :param version: the registry version.
    :param artifact_version: the artifact's own version.
    :param f1: weighted F1 of its top answers.
    :param validation_f1: the weighted F1 recorded at training on its held-out validation split
        (before the refit on every row): out of sample even when the evaluation set is not.
    """

    version: int
    artifact_version: str
    f1: float
    validation_f1: float | None = None


@dataclass(slots=True)
class PromotionReport:
    """What `promote` decided and why; printed as JSON by the CLI."""

    name: str
    version: int
    alias: str
    max_f1_drop: float
    eval_data: str
    eval_samples: int
    forced: bool
    candidate: Score | None = None
    champion: Score | None = None
    model_tests: ModelTestResult | None = None
    refusals: list[str] = field(default_factory=list)
    gate_measure: str | None = None
    """What the F1 gate compared: weighted F1 on the evaluation set, or (when that set is a
    version's training data) the held-out validation F1 recorded at training."""
    notes: list[str] = field(default_factory=list)
    """Caveats an operator should read (e.g. scoring on the data the versions were trained on)."""
    promoted: bool = False
    previous: int | None = None
    """The version that held the alias before (None: nobody, or the candidate itself)."""

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "decision": "promoted" if self.promoted else "refused"}


def _score_dir(model_dir: Path, version: int, examples: Sequence[Example]) -> Score:
    from inference.artifact import load_artifact
    from training.evaluate import evaluate_examples

    artifact = load_artifact(model_dir)
    report = evaluate_examples(artifact.classifier, examples, threshold=artifact.threshold)
    recorded = artifact.meta.validation_metrics.get("overall", {}).get("f1")
    validation_f1 = float(recorded) if isinstance(recorded, int | float) else None
    return Score(version, artifact.version, float(report["overall"]["f1"]), validation_f1)


def _score(
    mlflow_client: "MlflowClient", name: str, version: int, examples: Sequence[Example]
) -> Score:
    with tempfile.TemporaryDirectory(prefix=f"{name}-v{version}-") as tmp:
        return _score_dir(download(mlflow_client, name, version, Path(tmp)), version, examples)


def promote(
    mlflow_client: "MlflowClient",
    name: str,
    version: int,
    *,
    eval_examples: Sequence[Example],
    eval_data: str,
    eval_sha256: str | None = None,
    alias: Alias = CHAMPION,
    max_f1_drop: float = DEFAULT_MAX_F1_DROP,
    force: bool = False,
    model_tests: ModelTestRunner | None = None,
) -> PromotionReport:
    """Point `alias` at `version` if it passes the gate, else leave the registry unchanged.

    The gate: the candidate (downloaded from the registry and loaded as the service loads it) passes
    the model tests, and its weighted F1 on `eval_examples` is not below the current champion's by
    more than `max_f1_drop`. With `force` the alias moves even when the gate fails; the report
    still carries both scores and the refusals that were overridden.

    :param mlflow_client: a client of the registry.
    :param name: the registered model.
    :param version: the candidate version.
    :param eval_examples: the fixed evaluation set both versions are scored on.
    :param eval_data: where it came from, for the report.
    :param eval_sha256: its checksum: when it is a version's training data (its `data_sha256`
        tag), the report notes that the F1s measure fit, not generalisation.
    :param alias: `champion` (what the service serves) or `challenger` (shadow-scored).
    :param max_f1_drop: how far below the champion's F1 the candidate may score.
    :param force: promote even when the gate refuses.
    :param model_tests: runs the model tests on an artifact directory (default
        `run_model_tests`: pytest on tests/model in a subprocess).
    """
    if alias not in (CHAMPION, CHALLENGER):
        raise RegistryError(f"alias must be {CHAMPION!r} or {CHALLENGER!r}, not {alias!r}")
    if not eval_examples:
        raise RegistryError(f"the evaluation set {eval_data} has no rows")
    _require_version(mlflow_client, name, version)
    report = PromotionReport(
        name=name,
        version=version,
        alias=alias,
        max_f1_drop=max_f1_drop,
        eval_data=eval_data,
        eval_samples=len(eval_examples),
        forced=force,
    )
    aliases = _aliases(mlflow_client, name)
    with tempfile.TemporaryDirectory(prefix=f"{name}-v{version}-") as tmp:
        candidate_dir = download(mlflow_client, name, version, Path(tmp))
        report.candidate = _score_dir(candidate_dir, version, eval_examples)
        report.model_tests = (model_tests or run_model_tests)(candidate_dir)
    if not report.model_tests.passed:
        report.refusals.append(
            "the model tests did not pass"
            if report.model_tests.returncode is not None
            else f"the model tests could not run: {report.model_tests.output}"
        )
    champion_version = aliases.get(CHAMPION)
    scored_versions = {version} if champion_version is None else {version, champion_version}
    in_sample = []
    for scored in sorted(scored_versions):
        trained_on = mlflow_client.get_model_version(name, str(scored)).tags.get(DATA_SHA256_TAG)
        if eval_sha256 is not None and trained_on == eval_sha256:
            in_sample.append(scored)
    if champion_version is not None:
        report.champion = (
            report.candidate
            if champion_version == version
            else _score(mlflow_client, name, champion_version, eval_examples)
        )
        _compare(report, report.candidate, report.champion, max_f1_drop, in_sample)
    elif in_sample:
        report.notes.append(
            f"version {version} was trained on the evaluation set: its F1 there measures fit, "
            "not generalisation"
        )
    if report.refusals and not force:
        log.warning(
            "promotion refused",
            extra={"model": name, "version": version, "alias": alias, "why": report.refusals},
        )
        return report
    previous = aliases.get(alias)
    report.previous = previous if previous != version else None
    mlflow_client.set_registered_model_alias(name, alias, str(version))
    if alias == CHAMPION and report.previous is not None:
        _set_history(mlflow_client, name, [*_history(mlflow_client, name), report.previous])
    if alias == CHAMPION and aliases.get(CHALLENGER) == version:
        mlflow_client.delete_registered_model_alias(name, CHALLENGER)
    report.promoted = True
    log.info(
        "promoted",
        extra={"model": name, "version": version, "alias": alias, "previous": report.previous},
    )
    return report


def _compare(
    report: PromotionReport,
    candidate: Score,
    champion: Score,
    max_f1_drop: float,
    in_sample: Sequence[int],
) -> None:
    """The F1 gate. On an evaluation set either version was trained on, every model scores near
    1.0 and the gate would pass anything: it then compares the held-out validation F1 each
    artifact recorded at training instead, and says so."""
    measure, ours, theirs = "weighted F1", candidate.f1, champion.f1
    if in_sample:
        versions = ", ".join(map(str, in_sample))
        if candidate.validation_f1 is not None and champion.validation_f1 is not None:
            measure, ours, theirs = (
                "held-out validation F1",
                candidate.validation_f1,
                champion.validation_f1,
            )
            report.notes.append(
                f"version(s) {versions} were trained on the evaluation set, so the gate compared "
                "the held-out validation F1 each artifact recorded at training; pass a held-out "
                "--eval-data (e.g. reviewers' labels) to gate on one fixed set"
            )
        else:
            report.notes.append(
                f"version(s) {versions} were trained on the evaluation set: its F1 measures fit, "
                "not generalisation; pass a held-out set (--eval-data) for a meaningful gate"
            )
    report.gate_measure = measure
    if ours < theirs - max_f1_drop:
        report.refusals.append(
            f"{measure} {ours:.4f} is below the champion's {theirs:.4f} by more than {max_f1_drop}"
        )


def rollback(mlflow_client: "MlflowClient", name: str) -> dict[str, Any]:
    """`champion` back to the version it replaced (the last entry of the champion history), which
    leaves the history; refused when there is none."""
    _require_model(mlflow_client, name)
    history = _history(mlflow_client, name)
    current = _aliases(mlflow_client, name).get(CHAMPION)
    while history and history[-1] == current:
        history.pop()
    if not history:
        raise RegistryError(
            f"{name!r} has no previous champion to roll back to (champion: {current}); "
            f"promote a version instead"
        )
    previous = history.pop()
    mlflow_client.set_registered_model_alias(name, CHAMPION, str(previous))
    _set_history(mlflow_client, name, history)
    log.warning("rolled back", extra={"model": name, "from": current, "to": previous})
    return {"name": name, "alias": CHAMPION, "from": current, "to": previous, "history": history}


def describe(mlflow_client: "MlflowClient", name: str) -> dict[str, Any]:
    """Versions (newest first) with their aliases, artifact versions and runs, and the champion
    history: what an operator checks before promoting or rolling back."""
    _require_model(mlflow_client, name)
    aliases = _aliases(mlflow_client, name)
    by_version: dict[int, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(version, []).append(alias)
    versions = mlflow_client.search_model_versions(f"name = '{name}'")
    return {
        "name": name,
        "aliases": aliases,
        "champion_history": _history(mlflow_client, name),
        "versions": [
            {
                "version": int(v.version),
                "aliases": sorted(by_version.get(int(v.version), [])),
                "artifact_version": v.tags.get(ARTIFACT_VERSION_TAG),
                "data_sha256": v.tags.get(DATA_SHA256_TAG),
                "run_id": v.run_id,
                "created": v.creation_timestamp,
                "source": v.source,
            }
            for v in sorted(versions, key=lambda v: int(v.version), reverse=True)
        ],
    }

"""`python -m training {train,tune,cv,evaluate,check,predict,feedback,simulate-review,promote,
rollback,models}` (console script: `tagger-train`)."""

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from schemas.topics import DEFAULT_TOPICS
from training.data import DataValidationError, dataset_location

if TYPE_CHECKING:
    from training.config import TrainConfig

EXIT_REGISTRY: Final = 5
"""Registry commands: no such model or version, or no previous champion to roll back to."""
EXIT_REFUSED: Final = 6
"""`promote`: the gate refused the candidate (model tests, or F1 below the champion's margin)."""


def _cmd_train(args: argparse.Namespace) -> int:
    import tempfile

    from training.config import TrainConfig
    from training.data import load, load_feedback
    from training.train import train

    if args.register and args.no_track:
        print("error: --register needs the tracked run; drop --no-track", file=sys.stderr)
        return 2
    config = TrainConfig.from_file(args.config)
    feedback = load_feedback(args.feedback) if args.feedback else None
    with tempfile.TemporaryDirectory(prefix="train-plots-") as tmp:
        plots_dir = None if args.no_track else Path(tmp)
        meta = train(load(args.data), config, args.out, feedback, plots_dir=plots_dir)
        summary = {k: meta[k] for k in ("version", "threshold", "trained_on", "training_seconds")}
        if "feedback" in meta:
            summary["feedback"] = meta["feedback"]
        summary["validation"] = meta["validation_metrics"]["overall"]
        summary["selective"] = meta["validation_metrics"]["selective"]
        summary["calibration"] = meta["calibration"]
        summary["artifact"] = str(args.out)
        if plots_dir is not None:
            summary.update(_track(args, meta, config, plots_dir))
    print(json.dumps(summary, indent=2))
    return 0


def _track(
    args: argparse.Namespace, meta: dict[str, Any], config: "TrainConfig", plots_dir: Path
) -> dict[str, Any]:
    """Log the run to MLflow and, with --register, register its artifact: the summary's
    `mlflow` and `registered` entries."""
    from dataclasses import asdict

    from training.tracking import client, log_training_run

    run = log_training_run(meta, config, args.out, plots_dir)
    out: dict[str, Any] = {"mlflow": run.summary()}
    if args.register:
        from training.registry import register

        out["registered"] = asdict(register(client(run.tracking_uri), args.register, run, meta))
    return out


def _cmd_tune(args: argparse.Namespace) -> int:
    from training.config import TrainConfig
    from training.data import load
    from training.train import train
    from training.tune import search

    dataset = load(args.data)
    best, trials = search(dataset, TrainConfig.from_file(args.config), args.budget)
    meta = train(dataset, best, args.out)
    config_path = args.out / "tuned_config.json"
    best.write(config_path)
    print(
        json.dumps(
            {
                "config": str(config_path),
                "trials": len(trials),
                "best_validation_f1": max((t.get("f1", 0.0) for t in trials), default=None),
                "models": [params.model_dump() for params in best.models],
                "version": meta["version"],
            },
            indent=2,
        )
    )
    return 0


def _cmd_cv(args: argparse.Namespace) -> int:
    from training.config import TrainConfig
    from training.crossval import cross_validate
    from training.data import load

    result = cross_validate(
        load(args.data), TrainConfig.from_file(args.config), args.folds, args.repeats, args.seed
    )
    print(json.dumps(result, indent=2))
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from inference.artifact import load_artifact
    from training.data import load
    from training.evaluate import evaluate_examples, public, write_plots

    artifact = load_artifact(args.model)
    examples = load(args.data).examples
    report = evaluate_examples(artifact.classifier, examples, threshold=artifact.threshold)
    if args.report:
        for path in write_plots(report, examples, args.report):
            print(f"wrote {path}", file=sys.stderr)
    print(json.dumps(public(report), indent=2))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from inference.artifact import load_artifact

    artifact = load_artifact(args.model)
    tag, confidence, probs = artifact.classifier.predict(args.title, args.description)
    print(
        json.dumps(
            {
                "tag": tag,
                "confidence": confidence,
                "probabilities": probs,
                "needs_review": confidence < artifact.threshold,
                "threshold": artifact.threshold,
                "model_version": artifact.version,
            },
            indent=2,
        )
    )
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    """Exit 0 only for an artifact the service would load (checksums, labels, format)."""
    from inference.artifact import load_artifact

    artifact = load_artifact(args.model)
    print(json.dumps({"model": str(args.model), "version": artifact.version}))
    return 0


def _cmd_feedback_export(args: argparse.Namespace) -> int:
    from training.feedback import FeedbackReadError, export, parse_client_config

    try:
        config = parse_client_config(args.client_config)
    except ValueError as exc:
        print(f"error: -X: {exc}", file=sys.stderr)
        return 2
    try:
        summary = export(
            args.out,
            bootstrap=args.bootstrap_servers,
            topic=args.topic,
            timeout=args.timeout,
            config=config,
        )
    except FeedbackReadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 4
    if summary["invalid"]:
        print(
            f"warning: {summary['invalid']} invalid record(s) on {args.topic} were skipped "
            "(listed under invalid_records)",
            file=sys.stderr,
        )
    print(json.dumps(summary, indent=2))
    return 0


def _cmd_simulate_review(args: argparse.Namespace) -> int:
    from training.config import TrainConfig
    from training.data import load
    from training.simulate import markdown, simulate_review

    config = TrainConfig.from_file(args.config)
    if args.calibration_folds is not None:
        config = TrainConfig.model_validate(
            {**config.model_dump(), "calibration_folds": args.calibration_folds}
        )
    report = simulate_review(
        load(args.data).examples,
        config,
        seed=args.seed,
        repeats=args.repeats,
        initial_share=args.initial_share,
        held_out_share=args.held_out_share,
        random_repeats=args.random_repeats,
    )
    report["data"] = args.data
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report), end="")
    return 0


def _cmd_promote(args: argparse.Namespace) -> int:
    from training.data import load
    from training.registry import RegistryError, promote
    from training.tracking import client

    # Artifact downloads would draw progress bars on stderr, around the JSON report.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow_client = client()
    try:
        eval_data = (
            args.eval_data
            or os.environ.get("DATASET_LOC")
            or _trained_on(mlflow_client, args.name, args.version)
        )
        eval_set = load(eval_data)
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REGISTRY
    except OSError as exc:
        print(f"error: cannot read the evaluation set: {exc}", file=sys.stderr)
        return 2
    try:
        report = promote(
            mlflow_client,
            args.name,
            args.version,
            eval_examples=eval_set.examples,
            eval_data=eval_data,
            eval_sha256=eval_set.sha256,
            alias=args.alias,
            max_f1_drop=args.max_f1_drop,
            force=args.force,
        )
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REGISTRY
    print(json.dumps(report.as_dict(), indent=2))
    if not report.promoted:
        print(f"error: promotion refused: {'; '.join(report.refusals)}", file=sys.stderr)
        return EXIT_REFUSED
    return 0


def _trained_on(mlflow_client: Any, name: str, version: int) -> str:
    """The data the candidate was trained on (its run's `data.source`): the evaluation set when
    neither --eval-data nor DATASET_LOC names one. The gate then compares held-out F1s."""
    from mlflow.exceptions import MlflowException

    from training.registry import RegistryError

    try:
        run_id = mlflow_client.get_model_version(name, str(version)).run_id
        source = mlflow_client.get_run(run_id).data.params.get("data.source")
    except MlflowException as exc:
        raise RegistryError(f"{name!r} version {version}: {exc}") from exc
    if not source:
        raise RegistryError(
            f"{name!r} version {version} records no training data: pass --eval-data"
        )
    return str(source)


def _cmd_rollback(args: argparse.Namespace) -> int:
    from training.registry import RegistryError, rollback
    from training.tracking import client

    try:
        print(json.dumps(rollback(client(), args.name), indent=2))
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REGISTRY
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from training.registry import RegistryError, describe
    from training.tracking import client

    try:
        print(json.dumps(describe(client(), args.name), indent=2))
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REGISTRY
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    data_help = (
        "CSV path or http(s) URL (default: $DATASET_LOC, else the upstream Made-With-ML URL)"
    )

    p = sub.add_parser("train", help="train, evaluate, calibrate and write an artifact")
    p.add_argument("--data", default=None, help=data_help)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--config", type=Path, default=None, help="JSON TrainConfig")
    p.add_argument(
        "--feedback",
        default=None,
        help="labels CSV from `feedback export`, trained on with --data: its rows replace data "
        "set rows of the same id or text; the artifact's metadata counts them",
    )
    p.add_argument(
        "--no-track",
        action="store_true",
        help="do not log the run to MLflow (default: logged to $MLFLOW_TRACKING_URI, else "
        "sqlite:///mlflow.db, experiment $MLFLOW_EXPERIMENT_NAME, else content-tagger)",
    )
    p.add_argument(
        "--register",
        metavar="NAME",
        default=None,
        help="register the logged artifact as a new version of this registered model; it "
        "becomes champion only if the model has none",
    )
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("tune", help="random search within a time budget, then train")
    p.add_argument("--data", default=None, help=data_help)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--budget", type=int, default=60, help="seconds")
    p.add_argument("--config", type=Path, default=None)
    p.set_defaults(func=_cmd_tune)

    p = sub.add_parser("cv", help="repeated stratified k-fold weighted F1 of a config")
    p.add_argument("--data", default=None, help=data_help)
    p.add_argument("--config", type=Path, default=None)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=42, help="fold assignment seed")
    p.set_defaults(func=_cmd_cv)

    p = sub.add_parser("evaluate", help="print one JSON metrics document")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--data", default=None, help=data_help)
    p.add_argument("--report", type=Path, default=None, help="directory for PNG plots")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("check", help="verify an artifact loads as the service would load it")
    p.add_argument("--model", type=Path, required=True)
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("predict", help="classify one item")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--title", required=True)
    p.add_argument("--description", default="")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("feedback", help="labels from the feedback topic")
    feedback = p.add_subparsers(dest="feedback_command", required=True)
    p = feedback.add_parser(
        "export",
        help="latest decision per event on the feedback topic, as a labels CSV in the data set's "
        "format (exit 4: topic missing or its end not reached in time)",
    )
    p.add_argument("--out", type=Path, required=True)
    p.add_argument(
        "--bootstrap-servers",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092"),
        help="default: $KAFKA_BOOTSTRAP_SERVERS, else localhost:9092",
    )
    p.add_argument(
        "--topic",
        default=os.environ.get("TOPIC_FEEDBACK", DEFAULT_TOPICS.feedback),
        help=f"default: $TOPIC_FEEDBACK, else {DEFAULT_TOPICS.feedback}",
    )
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to reach the end")
    p.add_argument(
        "-X",
        dest="client_config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="librdkafka client setting (SASL, TLS), repeatable",
    )
    p.set_defaults(func=_cmd_feedback_export)

    p = sub.add_parser(
        "simulate-review",
        help="experiment: F1 after labelling what the model routes to review vs random items",
    )
    p.add_argument("--data", default=None, help=data_help)
    p.add_argument("--seed", type=int, default=42, help="first split seed")
    p.add_argument("--repeats", type=int, default=10, help="splits (seeds seed, seed+1, ...)")
    p.add_argument("--initial-share", type=float, default=0.5, help="of the non-held-out rows")
    p.add_argument("--held-out-share", type=float, default=0.2)
    p.add_argument("--random-repeats", type=int, default=3, help="seeds of the random baseline")
    p.add_argument("--config", type=Path, default=None, help="JSON TrainConfig")
    p.add_argument(
        "--calibration-folds",
        type=int,
        default=None,
        help="out-of-fold calibration of the initial model's threshold (default: the config's, "
        "as training does it)",
    )
    p.add_argument("--out", type=Path, default=None, help="write the report as JSON")
    p.set_defaults(func=_cmd_simulate_review)

    registry_note = (
        "registry: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db "
        f"(exit {EXIT_REGISTRY}: no such model or version, nothing to roll back to)"
    )
    p = sub.add_parser(
        "promote",
        help="move an alias to a registered version if it passes the model tests and scores "
        "within --max-f1-drop of the champion (prints a JSON report)",
        description=f"{registry_note}; exit {EXIT_REFUSED}: refused by the gate.",
    )
    p.add_argument("--name", required=True, help="registered model, e.g. content-tagger")
    p.add_argument("--version", type=int, required=True)
    p.add_argument("--alias", choices=("champion", "challenger"), default="champion")
    p.add_argument("--force", action="store_true", help="promote even if the gate refuses")
    p.add_argument(
        "--eval-data",
        default=None,
        help="fixed evaluation set both versions are scored on (default: $DATASET_LOC, else the "
        "data the candidate was trained on, when the gate compares held-out validation F1s)",
    )
    p.add_argument(
        "--max-f1-drop",
        type=float,
        default=0.02,
        help="how far the candidate's weighted F1 may fall below the champion's (default 0.02)",
    )
    p.set_defaults(func=_cmd_promote)

    p = sub.add_parser(
        "rollback", help="move champion back to the previous champion", description=registry_note
    )
    p.add_argument("--name", required=True)
    p.set_defaults(func=_cmd_rollback)

    p = sub.add_parser(
        "models", help="list a registered model's versions and aliases", description=registry_note
    )
    p.add_argument("--name", required=True)
    p.set_defaults(func=_cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if hasattr(args, "data"):
        args.data = dataset_location(args.data)
    try:
        return args.func(args)
    except DataValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from inference.artifact import ArtifactError

        if isinstance(exc, ArtifactError):
            print(f"error: {exc}", file=sys.stderr)
            return 3
        raise


if __name__ == "__main__":
    sys.exit(main())

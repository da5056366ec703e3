"""`python -m training {train,tune,cv,evaluate,check,predict,feedback,simulate-review}` (console
script: `tagger-train`)."""

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from schemas.topics import DEFAULT_TOPICS
from training.data import DataValidationError, dataset_location


def _cmd_train(args: argparse.Namespace) -> int:
    from training.config import TrainConfig
    from training.data import load, load_feedback
    from training.train import train

    feedback = load_feedback(args.feedback) if args.feedback else None
    meta = train(load(args.data), TrainConfig.from_file(args.config), args.out, feedback)
    summary = {k: meta[k] for k in ("version", "threshold", "trained_on", "training_seconds")}
    if "feedback" in meta:
        summary["feedback"] = meta["feedback"]
    summary["validation"] = meta["validation_metrics"]["overall"]
    summary["selective"] = meta["validation_metrics"]["selective"]
    summary["calibration"] = meta["calibration"]
    summary["artifact"] = str(args.out)
    print(json.dumps(summary, indent=2))
    return 0


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

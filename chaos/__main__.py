"""`python -m chaos` / `make chaos`: a seeded fault-injection run; exits 1 on any violation, 2
when the run itself failed (a service that would not start, a fault that could not be undone).

Prints the seed and the fault schedule first (stderr), each fault as it happens, and the JSON
summary last (stdout, and a file in the work dir). The same `--seed` replays the same schedule.
"""

import argparse
import json
import logging
import os
import random
import sys
import time
from pathlib import Path

from chaos.checker import GUARANTEES
from chaos.run import Options, execute, say
from chaos.schedule import make_schedule
from chaos.services import ROOT


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument(
        "--guarantee",
        choices=GUARANTEES,
        default=os.environ.get("PROCESSING_GUARANTEE", "at-least-once"),
        help="the service's PROCESSING_GUARANTEE, and what the checker holds it to",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=int(os.environ["CHAOS_SEED"]) if os.environ.get("CHAOS_SEED") else None,
        help="the schedule's and the input's seed (CHAOS_SEED; default random, always printed)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=_env_float("CHAOS_SECONDS", 60.0),
        help="how long events are published (CHAOS_SECONDS, default 60)",
    )
    parser.add_argument("--instances", type=int, default=3, help="service instances in the group")
    parser.add_argument(
        "--rate", type=float, default=_env_float("CHAOS_RATE", 200.0), help="events/s (CHAOS_RATE)"
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=Path(os.environ.get("MODEL_DIR") or ROOT / "artifacts" / "model"),
        help="the model the instances serve (MODEL_DIR)",
    )
    parser.add_argument("--duplicate-share", type=float, default=0.1, help="content duplicates")
    parser.add_argument("--resend-share", type=float, default=0.01, help="upstream re-sends")
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=180.0,
        help="seconds to wait for the group to catch up",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="logs, summary and (kept on failure) the services' state; default reports/chaos/...",
    )
    parser.add_argument("--report", type=Path, default=None, help="also write the summary here")
    parser.add_argument(
        "--keep", action="store_true", help="keep the services' data even when the run passes"
    )
    parser.add_argument(
        "--plan-only", action="store_true", help="print the seed's schedule and exit"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    if args.plan_only:
        say(f"seed {seed}")
        for fault in make_schedule(seed, args.seconds, args.instances):
            print(fault.describe())
        return 0
    if not (args.model_dir / "metadata.json").exists():
        say(f"no model in {args.model_dir}: run `make model` (or pass --model-dir)")
        return 2
    work_dir = (
        args.work_dir or ROOT / "reports" / "chaos" / f"{time.strftime('%Y%m%dT%H%M%S')}-{seed}"
    )
    options = Options(
        guarantee=args.guarantee,
        seed=seed,
        seconds=args.seconds,
        instances=args.instances,
        rate=args.rate,
        model_dir=args.model_dir.resolve(),
        duplicate_share=args.duplicate_share,
        resend_share=args.resend_share,
        work_dir=work_dir.resolve(),
        drain_timeout=args.drain_timeout,
        keep=args.keep,
    )
    summary = execute(options)
    text = json.dumps(summary, indent=2, sort_keys=False)
    for path in (options.work_dir / "summary.json", args.report):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text + "\n")
    print(text)
    check = summary.get("check") or {}
    say(
        f"seed {seed}: {'PASS' if summary['ok'] else 'FAIL'}"
        f" (failed checks: {check.get('failed_checks', [])}, errors: {len(summary['errors'])},"
        f" replays: {check.get('replays')}, {summary['elapsed_seconds']}s);"
        f" replay with: {summary['replay']}"
    )
    if summary["errors"] or "check" not in summary:
        return 2  # the run itself went wrong: no verdict to trust
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""`python -m consumer` / `tagger-consumer`: run the service (flags override environment)."""

import argparse
import sys

from consumer import logs
from consumer.app import run_worker, run_workers
from consumer.config import Settings


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m consumer", description=__doc__)
    parser.add_argument("--workers", type=int, help="processes in the consumer group (WORKERS)")
    parser.add_argument("--model-dir", help="model artifact directory (MODEL_DIR)")
    parser.add_argument("--bootstrap-servers", help="KAFKA_BOOTSTRAP_SERVERS")
    parser.add_argument("--redis-url", help="REDIS_URL")
    parser.add_argument("--group-id", help="CONSUMER_GROUP_ID")
    parser.add_argument("--metrics-port", type=int, help="METRICS_PORT")
    parser.add_argument("--batch-size", type=int, help="BATCH_SIZE")
    args = parser.parse_args(argv)
    overrides = {
        "workers": args.workers,
        "model_dir": args.model_dir,
        "kafka_bootstrap_servers": args.bootstrap_servers,
        "redis_url": args.redis_url,
        "consumer_group_id": args.group_id,
        "metrics_port": args.metrics_port,
        "batch_size": args.batch_size,
    }
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    logs.configure(settings.log_level)
    if settings.workers > 1:
        child_argv = [a for a in argv if not a.startswith("--workers")]
        if "--workers" in argv:
            i = argv.index("--workers")
            child_argv = argv[:i] + argv[i + 2 :]
        return run_workers(settings, child_argv)
    return run_worker(settings)


if __name__ == "__main__":
    sys.exit(main())

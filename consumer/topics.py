"""Create the service's topics (`python -m consumer.topics`): input and outputs, idempotently, and
the feedback topic the reviewer app writes.

Topics use broker-append timestamps, so end-to-end latency is measured on the broker's clock. The
feedback topic is compacted, not expired: it is the only copy of the labels people gave, keyed by
event id, and compaction keeps the latest decision on every event for as long as the topic lives.
"""

import argparse
import sys

from confluent_kafka.admin import AdminClient, NewTopic

from consumer.config import Settings
from consumer.kafka import common_config
from schemas.topics import Topics

TOPIC_CONFIG = {"message.timestamp.type": "LogAppendTime"}
FEEDBACK_TOPIC_CONFIG = {**TOPIC_CONFIG, "cleanup.policy": "compact"}


def ensure_topics(
    bootstrap: str,
    topics: Topics,
    partitions: int,
    output_partitions: int | None = None,
    replication: int = 1,
    timeout: float = 30.0,
    feedback: bool = False,
) -> list[str]:
    """Creates what is missing; returns the names created. The feedback topic only with
    `feedback`: the service runs without it, and tests and benchmarks have no use for one."""
    admin = AdminClient(common_config(bootstrap))
    existing = set(admin.list_topics(timeout=timeout).topics)
    wanted = {topics.input: (partitions, TOPIC_CONFIG)}
    for name in topics.outputs():
        wanted[name] = (output_partitions or partitions, TOPIC_CONFIG)
    if feedback:
        wanted[topics.feedback] = (output_partitions or partitions, FEEDBACK_TOPIC_CONFIG)
    new = [
        NewTopic(name, num_partitions=n, replication_factor=replication, config=config)
        for name, (n, config) in wanted.items()
        if name not in existing
    ]
    if not new:
        return []
    created = []
    for name, future in admin.create_topics(new, operation_timeout=timeout).items():
        try:
            future.result()
            created.append(name)
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    return created


def main(argv: list[str] | None = None) -> int:
    settings = Settings()
    parser = argparse.ArgumentParser(prog="python -m consumer.topics", description=__doc__)
    parser.add_argument("--bootstrap", default=settings.kafka_bootstrap_servers)
    parser.add_argument("--partitions", type=int, default=6, help="input topic partitions")
    parser.add_argument("--output-partitions", type=int, default=None)
    parser.add_argument("--replication", type=int, default=1)
    parser.add_argument(
        "--no-feedback",
        dest="feedback",
        action="store_false",
        help="do not create the feedback topic ($TOPIC_FEEDBACK)",
    )
    args = parser.parse_args(argv)
    created = ensure_topics(
        args.bootstrap,
        settings.topics,
        args.partitions,
        args.output_partitions,
        args.replication,
        feedback=args.feedback,
    )
    print(f"created: {', '.join(created) or 'nothing (all topics exist)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

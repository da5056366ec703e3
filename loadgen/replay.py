"""Load generator: publish a CSV's rows, or synthetic variations of them, as raw-content events.

`python -m loadgen.replay --csv data.csv` replays the data set once; `--count 200000 --rate 5000
--duplicates 0.1` publishes varied events (mostly new fingerprints, a share of near-duplicates that
differ only in case, spacing or punctuation) at a fixed open-loop rate.
"""

import argparse
import random
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from confluent_kafka import Producer
from tqdm import tqdm

from consumer.config import Settings
from consumer.kafka import common_config
from training.data import Example, dataset_location, load

_SUFFIXES = ("notes", "revisited", "in practice", "explained", "benchmark", "tutorial", "v2")


def messy(text: str, rng: random.Random) -> str:
    """Same content after normalisation: changed case, spacing and punctuation only."""
    choice = rng.randrange(3)
    if choice == 0:
        return text.upper()
    if choice == 1:
        return "  " + text.replace(" ", "   ") + "!!"
    return text.replace(" ", " - ", 1) + " ..."


def generate_events(
    examples: list[Example],
    count: int | None = None,
    duplicate_share: float = 0.0,
    seed: int = 0,
    id_prefix: str = "evt",
) -> Iterator[dict[str, Any]]:
    """Yields `count` events (default: each example once, unchanged)."""
    rng = random.Random(seed)
    if count is None:
        for e in examples:
            yield {
                "id": f"{id_prefix}-{e.id}",
                "title": e.title,
                "description": e.description,
                "created_on": e.created_on.replace(" ", "T"),
                "source": "replay",
            }
        return
    emitted: list[tuple[str, str]] = []
    for i in range(count):
        if emitted and rng.random() < duplicate_share:
            title, description = emitted[rng.randrange(len(emitted))]
            title, description = messy(title, rng), description
        else:
            e = examples[i % len(examples)]
            variant = i // len(examples)
            title = (
                e.title
                if variant == 0
                else (f"{e.title} {_SUFFIXES[variant % len(_SUFFIXES)]} {variant}")
            )
            description = e.description
            if len(emitted) < 100_000:
                emitted.append((title, description))
        yield {
            "id": f"{id_prefix}-{i}",
            "title": title,
            "description": description,
            "created_on": "2026-01-01T00:00:00",
            "source": "synthetic",
        }


def producer(bootstrap: str) -> Producer:
    """The load generator's producer: batched a little (linger 5 ms), idempotent."""
    return Producer({"linger.ms": 5, "enable.idempotence": True, **common_config(bootstrap)})


def publish(
    producer: Producer,
    topic: str,
    events: Iterable[dict[str, Any] | bytes],
    total: int,
    rate: float | None = None,
    progress: bool = True,
) -> int:
    """Open-loop: event i is due at start + i / rate, whether or not the broker keeps up. An event
    given as bytes is published as it is, without a key (a malformed record)."""
    sent = 0
    start = time.perf_counter()
    bar = tqdm(total=total, unit="ev", disable=not progress, file=sys.stderr)
    for event in events:
        if rate:
            delay = start + sent / rate - time.perf_counter()
            if delay > 0.001:
                time.sleep(delay)
        if isinstance(event, bytes):
            value, key = event, None
        else:
            value, key = orjson.dumps(event), str(event["id"]).encode()
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.05)
        sent += 1
        if sent % 1000 == 0:
            producer.poll(0)
            bar.update(1000)
    producer.flush(60)
    bar.update(sent % 1000)
    bar.close()
    return sent


def main(argv: list[str] | None = None) -> int:
    settings = Settings()
    parser = argparse.ArgumentParser(prog="python -m loadgen.replay", description=__doc__)
    parser.add_argument("--csv", default=None, help="CSV path or URL (default: $DATASET_LOC)")
    parser.add_argument("--bootstrap", default=settings.kafka_bootstrap_servers)
    parser.add_argument("--topic", default=settings.topic_input)
    parser.add_argument("--count", type=int, default=None, help="synthetic events to publish")
    parser.add_argument("--rate", type=float, default=None, help="events per second")
    parser.add_argument("--duplicates", type=float, default=0.0, help="share of duplicates")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--id-prefix", default=f"replay{int(time.time())}")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    examples = load(dataset_location(args.csv)).examples
    total = args.count if args.count is not None else len(examples)
    events = generate_events(examples, args.count, args.duplicates, args.seed, args.id_prefix)
    started = time.perf_counter()
    client = producer(args.bootstrap)
    sent = publish(client, args.topic, events, total, args.rate, not args.no_progress)
    elapsed = time.perf_counter() - started
    print(f"published {sent} events to {args.topic} in {elapsed:.1f}s ({sent / elapsed:,.0f}/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

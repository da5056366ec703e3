"""The paced input: events at a fixed open-loop rate, with content duplicates and upstream
re-sends, and an exact record of what the broker acknowledged.

Texts come from the data set (DATASET_LOC) when it loads, else from a synthetic vocabulary; each
base text repeats with a numbered suffix once the set is used up, so contents stay distinct. The
event plan is drawn from its own seed; only the offsets depend on timing.
"""

import logging
import random
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import KafkaError, Message, Producer

from chaos.checker import Sent
from inference.text import fingerprint
from loadgen.replay import messy

log = logging.getLogger("chaos")
# librdkafka's own log lines (a connection refused every half second while the broker is down):
# `chaos.run` sends them to the run's log directory, not the terminal.
client_log = logging.getLogger("chaos.kafka")

_WORDS = (
    "graph neural vision language speech robot policy sensor forecast cluster embedding gradient "
    "transformer attention anomaly ranking retrieval segmentation detection translation summary "
    "reinforcement causal federated sparse quantized diffusion tabular streaming active"
).split()


@dataclass(frozen=True, slots=True)
class Planned:
    """One event to publish: its payload and what the checker needs to know about it."""

    id: str
    value: bytes
    content: str
    kind: str


def synthetic_texts(n: int, seed: int) -> list[tuple[str, str]]:
    """(title, description) pairs from a fixed vocabulary, for a run without the data set."""
    rng = random.Random(seed)
    return [
        (
            " ".join(rng.sample(_WORDS, 4)).capitalize(),
            " ".join(rng.choices(_WORDS, k=20)).capitalize() + ".",
        )
        for _ in range(n)
    ]


def dataset_texts() -> list[tuple[str, str]]:
    """(title, description) of every DATASET_LOC row, or [] when it does not load."""
    try:
        from training.data import dataset_location, load

        return [(e.title, e.description) for e in load(dataset_location()).examples]
    except Exception as exc:  # no data set here: synthetic texts do as well
        log.warning("data set unavailable (%s): synthetic texts", exc)
        return []


def plan_events(
    texts: Sequence[tuple[str, str]],
    seed: int,
    run: str,
    duplicate_share: float,
    resend_share: float,
) -> Iterator[Planned]:
    """Endless events: mostly new content; a `duplicate_share` of earlier content under a new id
    (changed only in case, spacing or punctuation); a `resend_share` of earlier events again,
    byte for byte (same id).

    :param texts: base (title, description) pairs; reused with a numbered suffix.
    :param seed: the plan's randomness.
    :param run: a prefix that makes ids unique to the run.
    """
    rng = random.Random(seed)
    earlier: list[Planned] = []  # the last events, for re-sends and duplicates
    contents: list[tuple[str, str]] = []
    i = 0
    while True:
        draw = rng.random()
        if earlier and draw < resend_share:
            again = rng.choice(earlier)
            yield Planned(again.id, again.value, again.content, "resend")
            continue
        if contents and draw < resend_share + duplicate_share:
            title, description = contents[rng.randrange(len(contents))]
            title, kind = messy(title, rng), "duplicate"
        else:
            base_title, description = texts[i % len(texts)]
            variant = i // len(texts)
            title = base_title if variant == 0 else f"{base_title} part {variant}"
            kind = "original"
            contents.append((title, description))
            if len(contents) > 5000:
                contents.pop(0)
        event_id = f"{run}-{i}"
        i += 1
        event: dict[str, Any] = {
            "id": event_id,
            "title": title,
            "description": description,
            "created_on": "2026-01-01T00:00:00",
            "source": "chaos",
        }
        planned = Planned(event_id, orjson.dumps(event), fingerprint(title, description), kind)
        earlier.append(planned)
        if len(earlier) > 2000:
            earlier.pop(0)
        yield planned


@dataclass
class PacedProducer:
    """Publishes `plan` at `rate` events/s for `seconds` from a thread; `acked` fills from the
    delivery reports (the broker's word on what it stored, and where).

    :param bootstrap: the broker.
    :param topic: the input topic.
    :param plan: the events (`plan_events`).
    """

    bootstrap: str
    topic: str
    plan: Iterator[Planned]
    rate: float
    seconds: float
    acked: list[Sent] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    published: int = 0
    unflushed: int = 0
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="producer", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> bool:
        """Waits for the last delivery report; False if it is still running after `timeout`."""
        assert self._thread is not None
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                # Outlasts a broker restart: a record fails only if the broker stays away.
                "message.timeout.ms": 300_000,
                "logger": client_log,
            }
        )
        total = int(self.rate * self.seconds)
        start = time.monotonic()
        for n, planned in zip(range(total), self.plan, strict=False):
            delay = start + n / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._produce(producer, planned)
            producer.poll(0)
        self.unflushed = producer.flush(360)

    def _produce(self, producer: Producer, planned: Planned) -> None:
        def report(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                self.failed.append(f"{planned.id}: {err}")
                return
            partition, offset = msg.partition(), msg.offset()
            assert partition is not None and offset is not None
            self.acked.append(Sent(planned.id, partition, offset, planned.content, planned.kind))

        while True:
            try:
                producer.produce(self.topic, planned.value, planned.id.encode(), on_delivery=report)
                self.published += 1
                return
            except BufferError:
                producer.poll(0.05)

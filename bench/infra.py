"""Kafka, Redis and subprocess plumbing shared by the end-to-end benchmarks."""

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from consumer import config as consumer_config
from consumer.kafka import common_config
from consumer.metrics import scrape, total
from consumer.topics import ensure_topics
from loadgen import replay
from schemas.topics import DEFAULT_TOPICS, Topics

ROOT = Path(__file__).resolve().parents[1]

# The bench's input: its partition count, and the events generated for it (loadgen.replay): the
# share of content duplicates and the generator's seed.
PARTITIONS = 6
DUPLICATE_SHARE = 0.1
SEED = 7


class BenchError(RuntimeError):
    """A benchmark step could not complete (service died, timeout, lost events)."""


@dataclass(frozen=True)
class Stack:
    """What a benchmarked service process connects to."""

    bootstrap: str
    redis_url: str
    model_dir: Path


def dataset() -> str:
    """DATASET_LOC, else the labelled data set beside the repository (../shared)."""
    return os.environ.get("DATASET_LOC") or str(ROOT.parent / "shared" / "data" / "dataset.csv")


def run_id() -> str:
    return f"{time.strftime('%H%M%S')}-{uuid.uuid4().hex[:6]}"


def make_topics(bootstrap: str, prefix: str, partitions: int, input: str | None = None) -> Topics:
    """A fresh topic set named by `prefix`; `input` reads from an existing input topic instead."""
    topics = DEFAULT_TOPICS.prefixed(prefix, input=input)
    ensure_topics(bootstrap, topics, partitions)
    return topics


def delete_topics(bootstrap: str, names: Iterable[str]) -> None:
    names = sorted(set(names))
    if not names:
        return
    admin = AdminClient(common_config(bootstrap))
    for future in admin.delete_topics(names, operation_timeout=30).values():
        with contextlib.suppress(Exception):
            future.result()


def free_port(consecutive: int = 1) -> int:
    """A port p such that p .. p+consecutive-1 are free on 127.0.0.1 right now."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + consecutive > 65535:
            continue
        ok = True
        for p in range(base + 1, base + consecutive):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise BenchError("no free port range found")


def preload(bootstrap: str, topic: str, events: list[dict[str, Any]]) -> float:
    """Publishes every event as fast as possible; returns seconds taken."""
    producer = replay.producer(bootstrap)
    started = time.perf_counter()
    sent = replay.publish(producer, topic, iter(events), len(events), rate=None, progress=False)
    if sent != len(events) or len(producer):
        raise BenchError(f"preload left {len(producer)} of {len(events)} events undelivered")
    return time.perf_counter() - started


class Offsets:
    """End offsets (high watermarks) and a group's committed offsets, via one admin client."""

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self._admin = AdminClient(common_config(bootstrap))
        self._partitions: dict[str, list[int]] = {}

    def partitions(self, topic: str) -> list[int]:
        if topic not in self._partitions:
            meta = self._admin.list_topics(topic, timeout=15).topics[topic]
            if meta.error is not None:
                raise BenchError(f"topic {topic}: {meta.error}")
            self._partitions[topic] = sorted(meta.partitions)
        return self._partitions[topic]

    def end_offsets(self, topics: Iterable[str]) -> dict[tuple[str, int], int]:
        request = {
            TopicPartition(t, p): OffsetSpec.latest() for t in topics for p in self.partitions(t)
        }
        futures = self._admin.list_offsets(request, request_timeout=10)
        return {(tp.topic, tp.partition): f.result().offset for tp, f in futures.items()}

    def total(self, topics: Iterable[str]) -> int:
        return sum(self.end_offsets(topics).values())

    def committed(self, group: str, topic: str) -> dict[tuple[str, int], int]:
        consumer = Consumer(
            {"group.id": group, "enable.auto.commit": False, **common_config(self._bootstrap)}
        )
        try:
            tps = [TopicPartition(topic, p) for p in self.partitions(topic)]
            return {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(tps, 15)}
        finally:
            consumer.close()


def read_timestamps(
    bootstrap: str, topics: Iterable[str], offsets: Offsets, timeout: float = 120.0
) -> dict[bytes, int]:
    """key → record timestamp (ms) of every record in the topics, read from the start to the
    current end offsets (a key seen twice keeps its first timestamp)."""
    ends = {tp: o for tp, o in offsets.end_offsets(topics).items() if o > 0}
    out: dict[bytes, int] = {}
    if not ends:
        return out
    consumer = Consumer(
        {
            "group.id": f"bench-reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            "fetch.max.bytes": 52428800,
            **common_config(bootstrap),
        }
    )
    try:
        consumer.assign([TopicPartition(t, p, 0) for (t, p) in ends])
        remaining = dict(ends)
        deadline = time.monotonic() + timeout
        while remaining:
            if time.monotonic() > deadline:
                raise BenchError(f"reading timestamps timed out; {len(remaining)} partitions left")
            for msg in consumer.consume(10000, 0.5):
                if msg.error() is not None:
                    continue
                tp, key, offset = (msg.topic(), msg.partition()), msg.key(), msg.offset()
                # Set on every record consumed without an error, and every bench record has a key
                # (the client types them optional for its error events).
                assert key is not None and offset is not None
                out.setdefault(key, msg.timestamp()[1])
                if tp in remaining and offset + 1 >= remaining[tp]:
                    del remaining[tp]
    finally:
        consumer.close()
    return out


# -- subprocesses ---------------------------------------------------------------------------------


def http_json(url: str, timeout: float = 1.0) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:  # /healthz answers 503 with a JSON body
        with contextlib.suppress(Exception):
            return json.loads(exc.read())
        return None
    # Polling a port nothing listens on yet can connect the socket to itself (TCP simultaneous
    # open, when the kernel picks that same port as the source): it reads its own request back.
    except (OSError, ValueError, http.client.HTTPException):
        return None


def scrape_events_total(port: int, timeout: float = 2.0) -> float | None:
    """Sum of tagger_events_total over outcomes, from the service's /metrics."""
    try:
        return total(scrape(port, timeout=timeout), "tagger_events_total")
    except OSError:
        return None


@dataclass
class Proc:
    """A child process (service or passthrough) with its log file."""

    popen: subprocess.Popen
    log_path: Path
    name: str

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 30.0) -> int:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                return self.popen.wait(10)
        return self.popen.returncode

    def tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def spawn(
    name: str, argv: list[str], env: dict[str, str], log_dir: Path, tree: Path = ROOT
) -> Proc:
    """`python argv...` with `env` on top of ours, run from source tree `tree` (this one, or
    another revision's checkout). The tree is also put first on PYTHONPATH: the working directory
    alone is left off the path where PYTHONSAFEPATH is set."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    if tree != ROOT:
        inherited = env.get("PYTHONPATH", os.environ.get("PYTHONPATH"))
        env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(tree), inherited]))}
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            [sys.executable, *argv],
            env={**os.environ, **env},
            cwd=tree,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return Proc(popen, log_path, name)


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    what: str,
    interval: float = 0.02,
    procs: Iterable[Proc] = (),
) -> float:
    """Polls until predicate() is true; returns time.monotonic() at that moment."""
    procs = list(procs)
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return time.monotonic()
        for p in procs:
            if not p.alive():
                raise BenchError(
                    f"{p.name} exited ({p.popen.returncode}) while waiting for {what}:\n{p.tail()}"
                )
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def service_env(stack: Stack, topics: Topics, prefix: str, port: int) -> dict[str, str]:
    """A service process for one benchmark run: its own group and dedup key, named by `prefix`."""
    return {
        **consumer_config.service_env(
            bootstrap=stack.bootstrap,
            redis_url=stack.redis_url,
            model_dir=stack.model_dir,
            topics=topics,
            group=group_id(prefix),
            metrics_port=port,
            dedup_key=f"bench:{prefix}",
        ),
        "LOG_LEVEL": "WARNING",
        "WORKERS": "1",
    }


def group_id(prefix: str) -> str:
    return f"{prefix}-group"


def assigned_partitions(ports: Iterable[int]) -> list[int]:
    """assigned_partitions per /healthz (-1 where it does not answer)."""
    out = []
    for port in ports:
        body = http_json(f"http://127.0.0.1:{port}/healthz", timeout=0.5)
        out.append(int(body.get("assigned_partitions", -1)) if body else -1)
    return out


def service_argv(workers: int) -> list[str]:
    """`python -m consumer`, with `--workers N` for a multi-process group."""
    return ["-m", "consumer"] + (["--workers", str(workers)] if workers > 1 else [])


def wait_assigned(ports: list[int], partitions: int, procs: list["Proc"], what: str) -> float:
    """Until every process (one metrics port each) holds partitions and together they hold all
    `partitions`; returns that moment (monotonic)."""

    def stable() -> bool:
        counts = assigned_partitions(ports)
        return min(counts) > 0 and sum(counts) == partitions

    return wait_until(stable, 120, what, procs=procs)


def produce_encoded(bootstrap: str, topic: str, values: list[bytes], keys: list[bytes]) -> float:
    """Produces pre-serialised records as fast as the client takes them; returns seconds taken
    until every one is acknowledged."""
    producer = replay.producer(bootstrap)
    produce, poll = producer.produce, producer.poll
    started = time.perf_counter()
    for i, (value, key) in enumerate(zip(values, keys, strict=True)):
        while True:
            try:
                produce(topic, value, key)
                break
            except BufferError:
                poll(0.01)
        if i % 5000 == 0:
            poll(0)
    producer.flush(120)
    if len(producer):
        raise BenchError(f"{len(producer)} records undelivered to {topic}")
    return time.perf_counter() - started

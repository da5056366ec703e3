"""Drive the real service in a subprocess against a real broker and Redis, and read its outputs."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from chaos.services import free_ports
from consumer.config import service_env
from consumer.metrics import scrape, total
from consumer.topics import ensure_topics
from schemas.topics import DEFAULT_TOPICS, Topics
from tests.support import ROOT


def unique_topics(partitions: int, bootstrap: str) -> Topics:
    topics = DEFAULT_TOPICS.prefixed(f"t{uuid.uuid4().hex[:8]}")
    ensure_topics(bootstrap, topics, partitions, output_partitions=2)
    return topics


def produce(
    bootstrap: str,
    topic: str,
    values: list[bytes],
    keys: list[bytes | None] | None = None,
    rate: float | None = None,
) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    start = time.perf_counter()
    for i, value in enumerate(values):
        if rate:
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        producer.produce(topic, value, keys[i] if keys else None)
        producer.poll(0)
    assert producer.flush(30) == 0


@dataclass
class Outputs:
    by_topic: dict[str, list[tuple[bytes | None, bytes]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def total(self) -> int:
        return sum(len(v) for v in self.by_topic.values())

    def json(self, topic: str) -> list[dict]:
        return [json.loads(v) for _, v in self.by_topic.get(topic, [])]


def read_outputs(
    bootstrap: str,
    topics: Topics,
    expected: int,
    timeout: float = 60.0,
    settle: float = 1.0,
    isolation: str = "read_committed",
) -> Outputs:
    """Everything on the output topics from the beginning; waits for `expected`, then `settle`s
    a little longer so extra (wrong) records would show up too. `isolation` is the reader's
    isolation.level (read_uncommitted also returns what aborted transactions wrote)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": isolation,
        }
    )
    parts = []
    for name in topics.outputs():
        meta = consumer.list_topics(name, timeout=10).topics[name]
        parts += [TopicPartition(name, p, 0) for p in meta.partitions]
    consumer.assign(parts)
    out = Outputs()
    deadline = time.monotonic() + timeout
    settle_until = None
    try:
        while time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.2):
                if msg.error() is None:
                    out.by_topic[msg.topic()].append((msg.key(), msg.value()))
            if out.total() >= expected:
                settle_until = settle_until or time.monotonic() + settle
                if time.monotonic() >= settle_until:
                    break
    finally:
        consumer.close()
    return out


def start_module(
    module: str, env: dict[str, str], log_path: Path, ready: Callable[[], bool], timeout: float
) -> subprocess.Popen[bytes]:
    """`python -m module` with its output appended to `log_path`, returned once `ready()`. If it
    exits first, or is not ready within `timeout` (then it is killed), raises with its log's
    tail."""
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", module], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{module} exited {proc.returncode}: {tail}")
        if ready():
            return proc
        time.sleep(0.2)
    proc.kill()
    proc.wait(10)
    raise TimeoutError(f"{module} not ready: {log_path.read_text(errors='replace')[-2000:]}")


class ServiceProcess:
    """`python -m consumer` as ops run it, configured only through environment variables."""

    def __init__(
        self,
        *,
        bootstrap: str,
        redis_url: str,
        model_dir: Path,
        topics: Topics,
        log_path: Path,
        group: str | None = None,
        extra_env: dict | None = None,
    ) -> None:
        [self.metrics_port] = free_ports(1)
        self.group = group or f"tagger-{uuid.uuid4().hex[:8]}"
        self.log_path = log_path
        self.env = {
            **os.environ,
            **service_env(
                bootstrap=bootstrap,
                redis_url=redis_url,
                model_dir=model_dir,
                topics=topics,
                group=self.group,
                metrics_port=self.metrics_port,
                dedup_key=f"dedup:{self.group}",
            ),
            "REDIS_BACKOFF_MAX_SECONDS": "0.5",
            "BATCH_SIZE": "200",
            **(extra_env or {}),
        }
        self.proc: subprocess.Popen | None = None

    def start(self, wait_assigned: bool = True, timeout: float = 60.0) -> "ServiceProcess":
        def ready() -> bool:
            health = self.health()
            return bool(health) and (not wait_assigned or health.get("assigned_partitions", 0) > 0)

        self.proc = start_module("consumer", self.env, self.log_path, ready, timeout)
        return self

    def health(self) -> dict | None:
        return self.health_at(self.metrics_port)

    @staticmethod
    def health_at(port: int) -> dict | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                return json.loads(r.read())
        except Exception:
            return None

    def metric(self, name: str) -> float:
        """Sum of every sample of `name` (all label sets)."""
        return total(scrape(self.metrics_port), name)

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop_quietly(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False

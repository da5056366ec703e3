"""Hot reload end to end: the service follows `models:/content-tagger@champion` in a local MLflow
registry (sqlite, no server) while events stream through the real broker and Redis.

The alias is moved to version 2 mid-stream, then to a version 3 whose model file was altered after
registration. The service must switch to version 2 between two batches, without losing or
repeating an event, and refuse version 3 while it keeps serving version 2.
"""

import json
import shutil
import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from consumer.metrics import scrape, total
from inference.artifact import METADATA_FILE, content_version, read_metadata
from schemas.topics import Topics
from tests.support.harness import ServiceProcess, unique_topics, wait_for
from tests.support.records import event

pytestmark = pytest.mark.integration

NAME = "content-tagger"
TEXTS = (
    ("YOLO object detection in video", "bounding boxes around cars and people"),
    ("Sentiment analysis with BERT", "classify the polarity of product reviews"),
    ("Serving models on Kubernetes", "autoscaling inference behind a REST API"),
    ("Reinforcement learning for robots", "policy gradients from sparse rewards"),
)


def restamped(src: Path, dst: Path, created_at: str) -> Path:
    """A copy of the artifact at `src` written at another time: the same models under a version
    of its own, as a second training run would have."""
    shutil.copytree(src, dst)
    meta = read_metadata(dst)
    raw = json.loads((dst / METADATA_FILE).read_text())
    raw["created_at"] = created_at
    raw["version"] = content_version(meta.models, meta.prediction, created_at)
    (dst / METADATA_FILE).write_text(json.dumps(raw))
    return dst


class Registry:
    """A sqlite MLflow registry in a temp dir, registered to through MlflowClient directly (as
    `training` does after a run)."""

    def __init__(self, root: Path) -> None:
        from mlflow import MlflowClient

        self.client = MlflowClient()
        self.store = root / "store"
        self.experiment = self.client.create_experiment(
            "reload", artifact_location=self.store.as_uri()
        )
        self.client.create_registered_model(NAME)

    def register(self, artifact: Path) -> tuple[str, Path]:
        """The new version's number and where the registry keeps its files."""
        run = self.client.create_run(self.experiment)
        self.client.log_artifacts(run.info.run_id, str(artifact), "model")
        self.client.set_terminated(run.info.run_id)
        version = self.client.create_model_version(
            NAME, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id
        )
        return str(version.version), self.store / run.info.run_id / "artifacts" / "model"

    def point(self, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(NAME, alias, version)


class Stream:
    """Produces events at a steady pace on a thread until stopped; remembers their ids."""

    def __init__(self, bootstrap: str, topic: str, rate: float) -> None:
        self._producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        self._topic, self._interval = topic, 1.0 / rate
        self._stop = threading.Event()
        self.ids: list[str] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            i = len(self.ids)
            title, description = TEXTS[i % len(TEXTS)]
            ident = f"reload-{i}"
            self._producer.produce(
                self._topic, event(ident, f"{title} {ident}", f"{description} {ident}"), ident
            )
            self._producer.poll(0)
            self.ids.append(ident)
            time.sleep(self._interval)

    def start(self) -> "Stream":
        self._thread.start()
        return self

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(30)
        assert self._producer.flush(30) == 0
        return len(self.ids)


def read_all(bootstrap: str, topics: Topics, expected: int, timeout: float = 60.0) -> list[dict]:
    """Every output record with where it landed (`_topic`, `_partition`, `_offset`); waits for
    `expected` records, then a second longer so extra (repeated) ones would show up too."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4()}",
            "enable.auto.commit": False,
        }
    )
    parts = []
    for name in topics.outputs():
        meta = consumer.list_topics(name, timeout=10).topics[name]
        parts += [TopicPartition(name, p, 0) for p in meta.partitions]
    consumer.assign(parts)
    records: list[dict] = []
    deadline, settle_until = time.monotonic() + timeout, None
    try:
        while time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.2):
                if msg.error() is None:
                    record = json.loads(msg.value())
                    record.update(_topic=msg.topic(), _partition=msg.partition())
                    records.append({**record, "_offset": msg.offset()})
            if len(records) >= expected:
                settle_until = settle_until or time.monotonic() + 1.0
                if time.monotonic() >= settle_until:
                    break
    finally:
        consumer.close()
    return records


def refused(port: int) -> float:
    return total(scrape(port), "tagger_model_reloads_total", result="refused")


def test_the_champion_is_replaced_mid_stream_and_a_corrupt_candidate_refused(
    services, model_dir, tmp_path, monkeypatch
):
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)
    registry = Registry(tmp_path)
    artifacts = [
        restamped(model_dir, tmp_path / f"v{i}", f"2026-0{i}-01T00:00:00+00:00") for i in (1, 2, 3)
    ]
    v1, v2 = (read_metadata(a).version for a in artifacts[:2])
    one, _ = registry.register(artifacts[0])
    registry.point("champion", one)

    topics = unique_topics(3, services.bootstrap)
    svc = ServiceProcess(
        bootstrap=services.bootstrap,
        redis_url=services.redis_url,
        model_dir=tmp_path / "unused",  # MODEL_URI wins
        topics=topics,
        log_path=tmp_path / "service.log",
        extra_env={
            "MODEL_URI": f"models:/{NAME}@champion",
            "MODEL_POLL_SECONDS": "1",
            "MODEL_CACHE_DIR": str(tmp_path / "cache"),
            "MLFLOW_TRACKING_URI": tracking,
            "BATCH_SIZE": "50",
        },
    )
    stream = None
    try:
        svc.start()
        assert (svc.health() or {}).get("model_version") == v1
        stream = Stream(services.bootstrap, topics.input, rate=300).start()
        events = lambda: total(scrape(svc.metrics_port), "tagger_events_total")  # noqa: E731
        assert wait_for(lambda: events() >= 300, timeout=30), svc.logs()[-3000:]

        two, _ = registry.register(artifacts[1])
        registry.point("champion", two)
        assert wait_for(lambda: (svc.health() or {}).get("model_version") == v2, timeout=30), (
            svc.logs()[-3000:]
        )
        assert svc.health()["model_registry_version"] == two

        three, stored = registry.register(artifacts[2])
        model_file = stored / "model-0.bin"
        model_file.write_bytes(model_file.read_bytes()[::-1])  # altered after registration
        registry.point("champion", three)
        assert wait_for(lambda: refused(svc.metrics_port) >= 1, timeout=30), svc.logs()[-3000:]
        after = events()
        assert wait_for(lambda: events() >= after + 300, timeout=30)
        produced = stream.stop()
        stream = None
        assert svc.health()["model_version"] == v2
    finally:
        if stream is not None:
            stream.stop()
        if svc.proc is not None and svc.proc.poll() is None:
            assert svc.terminate() == 0

    records = read_all(services.bootstrap, topics, expected=produced)
    ids = [r["id"] for r in records]
    assert sorted(ids) == sorted(f"reload-{i}" for i in range(produced))  # each exactly once
    classified = [r for r in records if r["_topic"] in (topics.tagged, topics.review)]
    assert {r["model_version"] for r in classified} == {v1, v2}

    by_batch: dict[str, set[str]] = {}
    for r in classified:  # one classified_at per batch: the batch is classified in one call
        by_batch.setdefault(r["classified_at"], set()).add(r["model_version"])
    assert all(len(versions) == 1 for versions in by_batch.values())

    for topic in (topics.tagged, topics.review):
        for partition in {r["_partition"] for r in classified if r["_topic"] == topic}:
            in_order = sorted(
                (r for r in classified if (r["_topic"], r["_partition"]) == (topic, partition)),
                key=lambda r: r["_offset"],
            )
            versions = [r["model_version"] for r in in_order]
            if v2 in versions:
                assert v1 not in versions[versions.index(v2) :], (topic, partition)

    log = svc.logs()
    assert "model refused; the current one stays" in log and "checksum mismatch" in log

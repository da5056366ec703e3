"""Feedback records on a real topic → `python -m training feedback export` → `train --feedback`."""

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from schemas.feedback import FeedbackRecord
from tests.support import synthetic
from training.cli import main

pytestmark = pytest.mark.integration

NLP, CV, MLOPS, OTHER = synthetic.NLP, synthetic.CV, synthetic.MLOPS, synthetic.OTHER
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def decision(event_id: str | int, n: int, action: str, final_tag: str | None) -> FeedbackRecord:
    return FeedbackRecord.model_validate(
        {
            "event_id": event_id,
            "title": f"Review item {event_id}",
            "description": f"Text of item {event_id}",
            "created_on": "2024-05-01T12:00:00",
            "model_version": "v1",
            "predicted_tag": CV,
            "probabilities": {CV: 0.5, NLP: 0.3, MLOPS: 0.1, OTHER: 0.1},
            "final_tag": final_tag,
            "action": action,
            "reviewer": "alice",
            "decided_at": T0 + timedelta(seconds=n),
            "seconds_to_decide": 2.5,
        }
    )


def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]], **conf: Any) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, **conf})
    for key, value in records:
        producer.produce(topic, value=value, key=key)
    assert producer.flush(30) == 0


def test_export_writes_the_latest_decisions_and_training_counts_them(
    services, new_topic, tmp_path: Path, capsys
):
    topic = new_topic(partitions=3, prefix="feedback")
    decisions = [
        decision("e1", 0, "confirm", CV),
        decision("e2", 1, "skip", None),
        decision("e1", 2, "correct", MLOPS),  # supersedes e1's confirm
        decision("e3", 3, "report", None),
        decision("e4", 4, "report", NLP),
        decision(5, 5, "correct", OTHER),
    ]
    records = [(d.key, d.model_dump_json().encode()) for d in decisions]
    produce(services.bootstrap, topic, [*records, (b"bad", b"{not a feedback record")])
    # A decision in an aborted transaction is no decision (read_committed).
    aborted = Producer(
        {"bootstrap.servers": services.bootstrap, "transactional.id": f"t-{uuid.uuid4()}"}
    )
    aborted.init_transactions(30)
    aborted.begin_transaction()
    aborted.produce(topic, value=decision("e6", 6, "confirm", CV).model_dump_json(), key=b"e6")
    aborted.flush(30)
    aborted.abort_transaction(30)

    labels = tmp_path / "labels.csv"
    argv = ["feedback", "export", "--out", str(labels), "--topic", topic]
    assert main([*argv, "--bootstrap-servers", services.bootstrap, "--timeout", "60"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert "1 invalid record(s)" in captured.err
    assert (summary["records"], summary["rows"], summary["invalid"]) == (7, 3, 1)
    assert summary["dropped"] == {"report_without_tag": 1, "skip": 1, "superseded": 1}
    assert summary["labels"] == {MLOPS: 1, NLP: 1, OTHER: 1}
    rows = list(csv.DictReader(io.StringIO(labels.read_text(), newline="")))
    assert {r["id"]: r["tag"] for r in rows} == {"e1": MLOPS, "e4": NLP, "5": OTHER}
    assert rows[0] == {
        "id": "e1",
        "created_on": "2024-05-01 12:00:00",
        "title": "Review item e1",
        "description": "Text of item e1",
        "tag": MLOPS,
    }

    data = synthetic.write_csv(tmp_path / "data.csv")
    config = tmp_path / "tiny.json"
    synthetic.TINY_CONFIG.write(config)
    out = tmp_path / "model"
    argv = ["train", "--data", str(data), "--feedback", str(labels), "--config", str(config)]
    assert main([*argv, "--out", str(out)]) == 0
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["feedback"]["rows"] == 3
    assert meta["feedback"]["labels"] == {MLOPS: 1, NLP: 1, OTHER: 1}
    assert meta["feedback"]["sha256"] == summary["sha256"]


def test_export_of_a_missing_topic_fails_without_writing(services, tmp_path: Path, capsys):
    labels = tmp_path / "labels.csv"
    argv = ["feedback", "export", "--out", str(labels), "--topic", f"missing-{uuid.uuid4().hex}"]
    assert main([*argv, "--bootstrap-servers", services.bootstrap, "--timeout", "20"]) == 4
    assert "cannot read topic" in capsys.readouterr().err
    assert not labels.exists()


def test_the_topics_tool_creates_the_feedback_topic_compacted(services):
    from confluent_kafka.admin import AdminClient, ConfigResource

    from consumer.topics import ensure_topics
    from schemas.topics import DEFAULT_TOPICS

    topics = DEFAULT_TOPICS.prefixed(f"fb{uuid.uuid4().hex[:8]}")
    service_only = ensure_topics(services.bootstrap, topics, partitions=1)
    assert topics.feedback not in service_only
    assert ensure_topics(services.bootstrap, topics, partitions=1, feedback=True) == [
        topics.feedback
    ]
    admin = AdminClient({"bootstrap.servers": services.bootstrap})
    resource = ConfigResource(ConfigResource.Type.TOPIC, topics.feedback)
    config = admin.describe_configs([resource])[resource].result(timeout=30)
    assert config["cleanup.policy"].value == "compact"
    admin.delete_topics([topics.input, *topics.outputs(), topics.feedback])

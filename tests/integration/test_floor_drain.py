"""The bench's floor (`python -m bench.floor`) on the real broker and Redis: it forwards every
record unchanged and does the job's dedup and model work on every batch, so its events/s are a
bound the service's can be read against."""

import os
import uuid
from pathlib import Path

import redis

from chaos.services import free_ports
from consumer.config import service_env
from tests.support.harness import ServiceProcess, produce, read_outputs, start_module, unique_topics
from tests.support.records import event


def test_floor_forwards_every_record_and_claims_every_fingerprint_on_redis(
    services, model_dir: Path, tmp_path: Path
):
    topics = unique_topics(3, services.bootstrap)
    values = [event(i, f"Paper {i} on object detection", "boxes in images") for i in range(300)]
    values.append(event("again", "Paper 7 on object detection", "boxes in images"))
    produce(services.bootstrap, topics.input, values)
    [port] = free_ports(1)
    dedup_key = f"floor-{uuid.uuid4().hex[:8]}"
    env = {
        **service_env(
            bootstrap=services.bootstrap,
            redis_url=services.redis_url,
            model_dir=model_dir,
            topics=topics,
            group=f"floor-{uuid.uuid4().hex[:8]}",
            metrics_port=port,
            dedup_key=dedup_key,
        ),
        "BATCH_SIZE": "100",
        "BENCH_PASSTHROUGH_OUTPUT": topics.tagged,
    }
    proc = start_module(
        "bench.floor",
        {**os.environ, **env},
        tmp_path / "floor.log",
        lambda: bool(ServiceProcess.health_at(port)),
        60,
    )
    try:
        outputs = read_outputs(services.bootstrap, topics, len(values), settle=0.5)
    finally:
        proc.terminate()
        proc.wait(30)
    assert sorted(v for _, v in outputs.by_topic[topics.tagged]) == sorted(values)
    client = redis.Redis.from_url(services.redis_url)
    claims = sum(client.hlen(key) for key in client.scan_iter(f"*{dedup_key}*"))
    assert claims == 300  # one per distinct content: the repeat of paper 7 claims nothing

"""Wiring: settings → artifact, Redis, Kafka clients, pipeline, metrics server → Service."""

import logging
import os
import signal
import subprocess
import sys
import time

import redis
from confluent_kafka import Consumer, KafkaError, Producer

from consumer.config import Settings, redacted
from consumer.dedup import Deduplicator
from consumer.http import start_http_server
from consumer.kafka import consumer_config, producer_config
from consumer.metrics import Metrics
from consumer.pipeline import Pipeline
from consumer.service import FatalError, Service
from inference.artifact import ArtifactError, load_artifact

log = logging.getLogger("consumer")


def _missing_topics(consumer: Consumer, settings: Settings) -> list[str]:
    existing = consumer.list_topics(timeout=15).topics
    return [t for t in (settings.topic_input, *settings.topics.outputs()) if t not in existing]


def run_worker(settings: Settings) -> int:
    try:
        artifact = load_artifact(settings.model_dir)
    except ArtifactError as exc:
        log.error("cannot load model artifact", extra={"error": str(exc)})
        return 2
    metrics = Metrics()
    metrics.model_info.info(
        {
            "version": artifact.version,
            "created_at": artifact.meta.created_at,
        }
    )
    metrics.model_threshold.set(artifact.threshold)

    def on_error(err: KafkaError) -> None:
        metrics.kafka_errors.labels("client").inc()
        log.warning("kafka client error", extra={"error": str(err), "fatal": err.fatal()})

    consumer = Consumer(consumer_config(settings, error_cb=on_error, logger=log))
    producer = Producer(producer_config(settings, error_cb=on_error, logger=log))
    missing = _missing_topics(consumer, settings)
    if missing:
        log.error(
            "topics missing; create them with python -m consumer.topics", extra={"topics": missing}
        )
        consumer.close()
        return 2
    client = redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
    )
    dedup = Deduplicator(client, settings.dedup_key, settings.dedup_retention_seconds)
    pipeline = Pipeline(artifact, dedup, settings.topics, metrics, settings.max_message_bytes)
    service = Service(
        consumer=consumer,
        producer=producer,
        pipeline=pipeline,
        metrics=metrics,
        input_topic=settings.topic_input,
        batch_size=settings.batch_size,
        poll_timeout=settings.poll_timeout_seconds,
        shutdown_timeout=settings.shutdown_timeout_seconds,
        backoff_initial=settings.redis_backoff_initial_seconds,
        backoff_max=settings.redis_backoff_max_seconds,
    )

    def health() -> tuple[bool, dict]:
        alive = time.monotonic() - service.last_loop_at < 30
        return alive, {
            "model_version": artifact.version,
            "redis_available": service.redis_available,
            "assigned_partitions": len(service.assigned),
        }

    server = start_http_server(
        settings.metrics_host, settings.metrics_port, metrics.registry, health
    )
    service.install_signal_handlers()
    log.info(
        "started",
        extra={
            "model_version": artifact.version,
            "threshold": artifact.threshold,
            "metrics": f"http://{settings.metrics_host}:{settings.metrics_port}/metrics",
            "kafka": redacted(consumer_config(settings)),
            "redis": settings.redis_url.split("@")[-1],
            "input": settings.topic_input,
        },
    )
    try:
        return service.run()
    except FatalError as exc:
        log.error("fatal", extra={"error": str(exc)})
        return 1
    finally:
        server.shutdown()


def run_workers(settings: Settings, argv: list[str]) -> int:
    """N worker processes in one consumer group; worker i serves metrics on METRICS_PORT + i.

    If any worker exits, the others are stopped and the exit code is passed on, so a supervisor
    (systemd, Docker, Kubernetes) restarts the whole set instead of running with fewer workers.
    """
    procs = []
    for i in range(settings.workers):
        env = {**os.environ, "WORKERS": "1", "METRICS_PORT": str(settings.metrics_port + i)}
        procs.append(subprocess.Popen([sys.executable, "-m", "consumer", *argv], env=env))
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while all(p.poll() is None for p in procs):
        time.sleep(0.2)
    first = next(p for p in procs if p.returncode is not None)
    if not stopping:
        log.error("a worker exited; stopping the others", extra={"code": first.returncode})
        forward(signal.SIGTERM, None)
    codes = [p.wait() for p in procs]
    return first.returncode if first.returncode else max(codes)

"""Wiring: settings → artifact, Redis, Kafka clients, pipeline, metrics server → Service."""

import gc
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, Producer

from consumer.config import Settings, redacted
from consumer.dedup import Deduplicator
from consumer.drift import DriftMonitor
from consumer.http import start_http_server
from consumer.kafka import TRANSACTION_TIMEOUT_MS, consumer_config, producer_config
from consumer.metrics import Metrics
from consumer.model_source import LoadedModel, ModelSource, SourceUnavailable, model_source
from consumer.pipeline import BatchObserver, Pipeline
from consumer.reload import Mailbox, ModelWatcher
from consumer.service import FatalError, Service
from consumer.shadow import ShadowScorer, challenger_uri
from inference.artifact import Artifact, ArtifactError
from inference.verify import VerificationError, verify

log = logging.getLogger("consumer")


def _missing_topics(consumer: Consumer, settings: Settings) -> list[str]:
    existing = consumer.list_topics(timeout=15).topics
    return [t for t in (settings.topic_input, *settings.topics.outputs()) if t not in existing]


def _first_model(source: ModelSource, check: Callable[[Artifact], None]) -> LoadedModel:
    """The model to start with, through the same checks as every later one. Raises
    `ArtifactError`, `VerificationError` or `SourceUnavailable`."""
    revision = source.revision()
    if revision is None:
        raise SourceUnavailable(f"{source.uri} holds no model")
    loaded = source.fetch(revision)
    check(loaded.artifact)
    return loaded


# Objects allocated, less freed, before the youngest generation is collected (CPython: 700). A batch
# of 1000 events holds tens of thousands of containers alive until it is produced; at 700 the
# collector ran dozens of times per batch, and every object alive at that moment (the batch's) was
# promoted, so older generations, full collections included, ran nearly every batch. At 200,000 it
# runs every few batches (50,000 cost 3-4 % more CPU per event); only garbage in reference cycles,
# which the loop does not make, waits that long.
GC_YOUNG_THRESHOLD = 200_000


def tune_gc() -> None:
    """Set the cyclic garbage collector for the batch loop, once start-up is done: everything alive
    now (modules, the model, clients) is moved out of every later collection (`gc.freeze`), and the
    youngest generation is collected every `GC_YOUNG_THRESHOLD` net allocations, every few
    batches. Reference counting still frees acyclic garbage at once; only cycles wait longer. This
    took the loop's CPU per event down by about a fifth (docs/performance.md)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def run_worker(settings: Settings) -> int:
    metrics = Metrics()
    budget = settings.model_latency_budget_ms / 1000

    def check(artifact: Artifact) -> None:
        verify(artifact, latency_budget_seconds=budget)

    try:
        source = model_source(settings.model_source_uri, settings.model_cache_dir)
        serving = _first_model(source, check)
    except (ValueError, ArtifactError, VerificationError, SourceUnavailable) as exc:
        log.error(
            "cannot load model artifact",
            extra={"error": str(exc), "uri": settings.model_source_uri},
        )
        return 2
    metrics.model_info.info(serving.info())
    metrics.model_threshold.set(serving.artifact.threshold)

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
    dedup = Deduplicator.from_settings(settings)
    # Observers of every classified batch; one that depends on the serving model also goes in
    # `swap_listeners` below.
    drift = DriftMonitor(
        metrics,
        settings.drift_window_events,
        settings.drift_min_events,
        reference=serving.artifact.meta.reference,
    )
    shadow = ShadowScorer(metrics, share=settings.shadow_share)
    observers: list[BatchObserver] = [drift, shadow]
    pipeline = Pipeline(
        serving.artifact,
        dedup,
        settings.topics,
        metrics,
        settings.max_message_bytes,
        observers=observers,
    )
    current = [serving]  # the model serving now; replaced on the loop's thread, read by /healthz
    # Called on the loop's thread, between batches, with the model that serves from the next batch
    # on (e.g. a drift monitor taking the new model's reference distributions).
    swap_listeners: list[Callable[[LoadedModel], None]] = [
        lambda model: drift.use(model.artifact.meta.reference)
    ]

    def swap(model: LoadedModel) -> None:
        previous = current[0]
        pipeline.use(model.artifact)
        current[0] = model
        metrics.model_info.info(model.info())
        metrics.model_threshold.set(model.artifact.threshold)
        for listener in swap_listeners:
            try:
                listener(model)
            except Exception:
                log.exception("a model swap listener failed; the new model serves anyway")
        log.info(
            "model swapped",
            extra={
                "slot": "champion",
                "version": model.version,
                "previous_version": previous.version,
                "registry_version": model.registry_version,
                "threshold": model.artifact.threshold,
            },
        )

    models: Mailbox[LoadedModel] = Mailbox()
    watchers: list[ModelWatcher] = []
    if settings.model_poll_seconds > 0 and not source.pinned:
        watchers.append(
            ModelWatcher(
                source,
                slot="champion",
                deliver=models.put,
                verify=check,
                poll_seconds=settings.model_poll_seconds,
                metrics=metrics,
                serving=serving,
            )
        )
    shadow_uri = challenger_uri(settings.shadow_model_uri, settings.model_uri)
    if shadow_uri is not None:
        try:
            shadow_source = model_source(shadow_uri, settings.model_cache_dir)
        except ValueError as exc:
            log.error("cannot read SHADOW_MODEL_URI", extra={"error": str(exc), "uri": shadow_uri})
            return 2
        # Checked once at start-up, then every poll: a challenger is loaded and verified off the
        # hot path like a champion, and handed to the scorer (a single attribute swap).
        challenger = ModelWatcher(
            shadow_source,
            slot="challenger",
            deliver=lambda model: shadow.use(model.artifact),
            verify=check,
            poll_seconds=settings.model_poll_seconds or 1.0,
            metrics=metrics,
            on_absent=lambda: shadow.use(None),
        )
        challenger.check()
        if settings.model_poll_seconds > 0 and not shadow_source.pinned:
            watchers.append(challenger)
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
        models=models,
        on_model=swap,
        guarantee=settings.processing_guarantee,
        commit_interval=settings.commit_interval_ms / 1000,
        transaction_budget=float(
            producer_config(settings).get("transaction.timeout.ms", TRANSACTION_TIMEOUT_MS)
        )
        / 1000,
    )

    def health() -> tuple[bool, dict]:
        alive = time.monotonic() - service.last_loop_at < 30
        model = current[0]
        return alive, {
            "model_version": model.version,
            "model_registry_version": model.registry_version,
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
            "model_version": serving.version,
            "model_uri": serving.uri,
            "model_registry_version": serving.registry_version,
            "model_poll_seconds": settings.model_poll_seconds if watchers else 0,
            "threshold": serving.artifact.threshold,
            "metrics": f"http://{settings.metrics_host}:{settings.metrics_port}/metrics",
            "kafka": redacted(consumer_config(settings)),
            "redis": settings.redis_url.split("@")[-1],
            "input": settings.topic_input,
            "guarantee": settings.processing_guarantee,
            "transactional_id": (
                settings.transactional_id
                if settings.processing_guarantee == "exactly-once"
                else None
            ),
        },
    )
    for watcher in watchers:
        watcher.start()
    tune_gc()
    try:
        return service.run()
    except FatalError as exc:
        log.error("fatal", extra={"error": str(exc), "reason": getattr(exc, "reason", "delivery")})
        return 1
    finally:
        for watcher in watchers:
            watcher.stop(timeout=0)
        server.shutdown()


def run_workers(settings: Settings, argv: list[str]) -> int:
    """N worker processes in one consumer group; worker i serves metrics on METRICS_PORT + i
    and is instance `<INSTANCE_ID>.w<i>` (its own transactional.id under exactly-once).

    If any worker exits, the others are stopped and the exit code is passed on, so a supervisor
    (systemd, Docker, Kubernetes) restarts the whole set instead of running with fewer workers.
    """
    procs = []
    for i in range(settings.workers):
        env = {
            **os.environ,
            "WORKERS": "1",
            "METRICS_PORT": str(settings.metrics_port + i),
            "INSTANCE_ID": f"{settings.instance_id}.w{i}",
        }
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

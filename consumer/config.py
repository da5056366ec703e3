"""Service settings from environment variables (12-factor); command-line flags may override them."""

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.topics import DEFAULT_TOPICS, TOPIC_ROLES, Topics

# Client settings that pass straight through to librdkafka: KAFKA_SASL_MECHANISM → sasl.mechanism.
# Only these families: unrelated KAFKA_* variables (KAFKA_HEAP, KAFKA_PORT) never reach the client.
PASSTHROUGH_PREFIXES = ("KAFKA_SASL_", "KAFKA_SSL_", "KAFKA_SECURITY_", "KAFKA_CLIENT_ID")
# KAFKA_CONFIG_<NAME> for anything else, e.g. KAFKA_CONFIG_FETCH_MAX_BYTES → fetch.max.bytes.
GENERIC_PREFIX = "KAFKA_CONFIG_"
SECRET_KEYS = ("password", "secret", "token", "key.pem", "private", "oauthbearer.config", "jaas")


ProcessingGuarantee = Literal["at-least-once", "exactly-once"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    kafka_bootstrap_servers: str = "localhost:9092"
    redis_url: str = "redis://localhost:6379/0"
    # How REDIS_URL is read: one server, any node of a Redis Cluster (the client finds the rest),
    # or `redis+sentinel://s1[:26379][,s2...]/<service>[/db]` (consumer/redis_client.py).
    redis_mode: Literal["standalone", "cluster", "sentinel"] = "standalone"
    # Dedup keys are sharded by the fingerprint's first N hex digits (16**N shards). Unset: 2 on a
    # cluster (spread over every primary), 0 otherwise (one hash per bucket, one call per batch).
    # Changing it, like DEDUP_KEY, starts from an empty dedup state.
    dedup_shard_digits: int | None = Field(None, ge=0, le=3)
    model_dir: Path = Path("artifacts/model")
    # Where the model comes from: an artifact directory, `models:/<name>@<alias>` (polled) or
    # `models:/<name>/<version>` (pinned). Unset: MODEL_DIR. The registry is MLFLOW_TRACKING_URI's,
    # read by MLflow itself.
    model_uri: str | None = None
    # Seconds between checks of MODEL_URI for a new version; 0 serves the first one until restart.
    model_poll_seconds: float = Field(30.0, ge=0)
    # Registry versions are downloaded to MODEL_CACHE_DIR/<name>/<version>.
    model_cache_dir: Path = Path("artifacts/registry-cache")
    # A candidate's median time per event over the smoke set must stay under this (a compiled
    # path takes a few µs; the budget catches a model or build that is orders of magnitude off).
    model_latency_budget_ms: float = Field(1.0, gt=0)
    # The shadow challenger: scored beside the serving model, never routed. Unset: the
    # `@challenger` alias of a `models:/<name>@champion` MODEL_URI; empty: no challenger.
    shadow_model_uri: str | None = None
    # Share of each batch's fresh events the challenger scores (1.0: all of them).
    shadow_share: float = Field(1.0, ge=0.0, le=1.0)
    # Drift: PSI and review share over the last DRIFT_WINDOW_EVENTS classified events, exported
    # once the window holds DRIFT_MIN_EVENTS.
    drift_window_events: int = Field(5000, gt=0)
    drift_min_events: int = Field(500, gt=0)
    consumer_group_id: str = "content-tagger"
    topic_input: str = DEFAULT_TOPICS.input
    topic_tagged: str = DEFAULT_TOPICS.tagged
    topic_review: str = DEFAULT_TOPICS.review
    topic_duplicate: str = DEFAULT_TOPICS.duplicate
    topic_dead_letter: str = DEFAULT_TOPICS.dead_letter
    topic_feedback: str = DEFAULT_TOPICS.feedback
    metrics_port: int = 9108
    metrics_host: str = "0.0.0.0"
    dedup_key: str = "tagger:dedup"
    dedup_retention_seconds: int = Field(7 * 24 * 3600, gt=0)
    batch_size: int = Field(1000, gt=0)
    poll_timeout_seconds: float = Field(0.05, gt=0)
    # Bounded so every output, a dead letter carrying the payload in base64 included, stays under
    # the producer's default message.max.bytes (1 MB).
    max_message_bytes: int = Field(256 * 1024, gt=0, le=600_000)
    redis_timeout_seconds: float = Field(2.0, gt=0)
    redis_backoff_initial_seconds: float = Field(0.2, gt=0)
    redis_backoff_max_seconds: float = Field(5.0, gt=0)
    shutdown_timeout_seconds: float = Field(10.0, gt=0)
    producer_linger_ms: float = Field(2.0, ge=0)
    log_level: str = "INFO"
    workers: int = Field(1, ge=1)
    # at-least-once: outputs are produced, input offsets committed once they are delivered (a
    # crash replays). exactly-once: a Kafka transaction per batch (or per COMMIT_INTERVAL_MS)
    # carries the outputs and the input offsets together; readers must use read_committed.
    processing_guarantee: ProcessingGuarantee = "at-least-once"
    # Names this process's transactional producer (exactly-once): stable across restarts, so a
    # restarted instance fences its previous self and aborts what it left open. Default: the host
    # (pod) name; `--workers N` gives worker i `<INSTANCE_ID>.w<i>`.
    instance_id: str = Field(default_factory=socket.gethostname, min_length=1)
    # Exactly-once: a transaction stays open at most this long while full batches keep coming; it
    # is committed sooner whenever the consumer has caught up (a batch below BATCH_SIZE).
    commit_interval_ms: float = Field(100.0, gt=0)

    @model_validator(mode="after")
    def _drift_window_holds_its_minimum(self) -> "Settings":
        if self.drift_min_events > self.drift_window_events:
            raise ValueError(
                f"DRIFT_MIN_EVENTS ({self.drift_min_events}) exceeds DRIFT_WINDOW_EVENTS "
                f"({self.drift_window_events}): drift would never be exported"
            )
        return self

    @property
    def model_source_uri(self) -> str:
        """MODEL_URI, else MODEL_DIR: deployments that set only MODEL_DIR keep working."""
        return self.model_uri or str(self.model_dir)

    @property
    def transactional_id(self) -> str:
        """The exactly-once producer's `transactional.id`: the group's, then the instance's."""
        return f"{self.consumer_group_id}.{self.instance_id}"

    @property
    def topics(self) -> Topics:
        return Topics(**{name: getattr(self, f"topic_{name}") for name in TOPIC_ROLES})


def topic_env(topics: Topics) -> dict[str, str]:
    """Environment variables that point a service process at `topics`."""
    return {f"TOPIC_{name.upper()}": getattr(topics, name) for name in TOPIC_ROLES}


def service_env(
    *,
    bootstrap: str,
    redis_url: str,
    model_dir: Path,
    topics: Topics,
    group: str,
    metrics_port: int,
    dedup_key: str,
) -> dict[str, str]:
    """Environment variables for a service process of its own (group, dedup key, metrics port on
    localhost), as tests and benchmarks start it: configured the way ops configure it."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "REDIS_URL": redis_url,
        "MODEL_DIR": str(model_dir),
        "CONSUMER_GROUP_ID": group,
        **topic_env(topics),
        "METRICS_PORT": str(metrics_port),
        "METRICS_HOST": "127.0.0.1",
        "DEDUP_KEY": dedup_key,
    }


def kafka_overrides(environ: dict[str, str] | None = None) -> dict[str, str]:
    environ = dict(os.environ if environ is None else environ)
    conf: dict[str, str] = {}
    for name, value in environ.items():
        upper = name.upper()
        if upper.startswith(GENERIC_PREFIX):
            conf[upper.removeprefix(GENERIC_PREFIX).lower().replace("_", ".")] = value
        elif upper.startswith(PASSTHROUGH_PREFIXES):
            conf[upper.removeprefix("KAFKA_").lower().replace("_", ".")] = value
    return conf


def redacted(conf: dict[str, object]) -> dict[str, object]:
    return {k: ("***" if any(s in k.lower() for s in SECRET_KEYS) else v) for k, v in conf.items()}

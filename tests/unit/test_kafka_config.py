"""Client configs per guarantee: tunable defaults give way to KAFKA_CONFIG_* overrides, the keys a
guarantee depends on do not."""

import socket

from consumer.config import Settings
from consumer.kafka import (
    FETCH_QUEUE_BACKOFF_MS,
    TRANSACTION_TIMEOUT_MS,
    consumer_config,
    producer_config,
)


def _settings(monkeypatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_an_override_replaces_a_tunable_default(monkeypatch):
    settings = _settings(monkeypatch, KAFKA_CONFIG_SESSION_TIMEOUT_MS="30000")
    assert consumer_config(settings)["session.timeout.ms"] == "30000"


def test_a_full_local_queue_postpones_fetching_briefly_not_for_librdkafkas_second(monkeypatch):
    config = consumer_config(_settings(monkeypatch))
    assert config["fetch.queue.backoff.ms"] == FETCH_QUEUE_BACKOFF_MS
    assert config["fetch.wait.max.ms"] >= FETCH_QUEUE_BACKOFF_MS


def test_an_override_cannot_switch_off_what_the_guarantee_needs(monkeypatch):
    settings = _settings(
        monkeypatch,
        PROCESSING_GUARANTEE="exactly-once",
        KAFKA_CONFIG_ENABLE_AUTO_COMMIT="true",
        KAFKA_CONFIG_ENABLE_IDEMPOTENCE="false",
    )
    assert consumer_config(settings)["enable.auto.commit"] is False
    assert producer_config(settings)["enable.idempotence"] is True


def test_at_least_once_auto_commits_stored_offsets_and_has_no_transactional_id(monkeypatch):
    settings = _settings(monkeypatch, PROCESSING_GUARANTEE="at-least-once")
    consumer, producer = consumer_config(settings), producer_config(settings)
    assert consumer["enable.auto.commit"] is True and consumer["enable.auto.offset.store"] is False
    assert "transactional.id" not in producer


def test_exactly_once_names_its_producer_by_group_and_instance(monkeypatch):
    settings = _settings(
        monkeypatch,
        PROCESSING_GUARANTEE="exactly-once",
        CONSUMER_GROUP_ID="tagger",
        INSTANCE_ID="pod-7",
    )
    producer = producer_config(settings)
    assert producer["transactional.id"] == "tagger.pod-7"
    assert producer["transaction.timeout.ms"] == TRANSACTION_TIMEOUT_MS
    assert consumer_config(settings)["isolation.level"] == "read_committed"


def test_the_transaction_timeout_can_be_overridden(monkeypatch):
    settings = _settings(
        monkeypatch,
        PROCESSING_GUARANTEE="exactly-once",
        KAFKA_CONFIG_TRANSACTION_TIMEOUT_MS="20000",
    )
    assert producer_config(settings)["transaction.timeout.ms"] == "20000"


def test_the_instance_id_defaults_to_the_host_name(monkeypatch):
    monkeypatch.delenv("INSTANCE_ID", raising=False)
    assert Settings().instance_id == socket.gethostname()

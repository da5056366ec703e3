from consumer.config import Settings, kafka_overrides, redacted


def test_defaults_match_the_contract(monkeypatch):
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "TOPIC_INPUT", "METRICS_PORT"):
        monkeypatch.delenv(name, raising=False)
    s = Settings()
    assert s.kafka_bootstrap_servers == "localhost:9092"
    assert s.redis_url == "redis://localhost:6379/0"
    assert (
        s.topic_input,
        s.topic_tagged,
        s.topic_review,
        s.topic_duplicate,
        s.topic_dead_letter,
    ) == (
        "content.raw",
        "content.tagged",
        "content.review",
        "content.duplicates",
        "content.dead-letter",
    )
    assert s.metrics_port == 9108


def test_environment_overrides_settings(monkeypatch):
    monkeypatch.setenv("TOPIC_INPUT", "other.raw")
    monkeypatch.setenv("METRICS_PORT", "9200")
    s = Settings()
    assert s.topic_input == "other.raw" and s.metrics_port == 9200


def test_sasl_and_ssl_settings_pass_through_to_the_client():
    env = {
        "KAFKA_SASL_MECHANISM": "PLAIN",
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SSL_CA_LOCATION": "/ca.pem",
        "KAFKA_CONFIG_FETCH_MAX_BYTES": "1000",
        "KAFKA_HEAP": "-Xmx1g",
        "KAFKA_PORT": "9092",
    }
    assert kafka_overrides(env) == {
        "sasl.mechanism": "PLAIN",
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": "/ca.pem",
        "fetch.max.bytes": "1000",
    }


def test_secrets_are_redacted_for_logs():
    assert redacted({"sasl.password": "hunter2", "sasl.username": "u"}) == {
        "sasl.password": "***",
        "sasl.username": "u",
    }


def test_topic_env_round_trips_through_settings(monkeypatch):
    from consumer.config import topic_env
    from schemas.topics import DEFAULT_TOPICS

    topics = DEFAULT_TOPICS.prefixed("x")
    for name, value in topic_env(topics).items():
        monkeypatch.setenv(name, value)
    assert Settings().topics == topics

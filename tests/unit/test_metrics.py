from prometheus_client import CollectorRegistry, Histogram

from consumer.metrics import Metrics, observe_many, observe_since

VALUES = [0.0, 1e-6, 1.5e-6, 2e-6, 3e-3, 0.5, 7.0, 1e9]


def _samples(h: Histogram) -> dict[str, float]:
    return {
        f"{s.name}{s.labels}": s.value
        for m in h.collect()
        for s in m.samples
        if not s.name.endswith("_created")
    }


def test_observe_many_matches_observe_one_by_one():
    buckets = (1e-6, 2e-6, 1e-3, 1.0)
    one = Histogram("one", "d", buckets=buckets, registry=CollectorRegistry())
    many = Histogram("many", "d", buckets=buckets, registry=CollectorRegistry())
    for v in VALUES:
        one.observe(v)
    observe_many(many, VALUES)
    assert {k.replace("one", "x"): v for k, v in _samples(one).items()} == {
        k.replace("many", "x"): v for k, v in _samples(many).items()
    }


def test_latencies_since_source_timestamps_are_observed_as_one_by_one():
    buckets = (1e-3, 5e-3, 0.25, 1.0)
    one = Histogram("one", "d", buckets=buckets, registry=CollectorRegistry())
    since = Histogram("since", "d", buckets=buckets, registry=CollectorRegistry())
    now_ms = 1_700_000_010_000.0
    # On a bound, between bounds, past the last, and in the future (a skewed clock: zero).
    batches = [[1_700_000_009_999, 1_700_000_009_995, 1_700_000_009_000], [], [1_700_000_020_000]]
    for ts in (ts for batch in batches for ts in batch):
        one.observe(max(now_ms - ts, 0.0) / 1000.0)
    observe_since(since, now_ms, batches)
    assert {k.replace("one", "x"): v for k, v in _samples(one).items()} == {
        k.replace("since", "x"): v for k, v in _samples(since).items()
    }


def test_known_label_values_are_exported_before_any_event():
    text = "\n".join(f"{s.name}{s.labels}" for m in Metrics().registry.collect() for s in m.samples)
    assert "tagger_events_total{'outcome': 'dead_letter'}" in text
    assert "tagger_tags_total{'tag': 'mlops', 'route': 'review'}" in text
    assert "tagger_kafka_errors_total{'kind': 'produce'}" in text


def test_scrape_and_total_read_what_the_http_endpoint_serves():
    import socket

    from consumer.http import start_http_server
    from consumer.metrics import scrape, total

    metrics = Metrics()
    metrics.events.labels("tagged").inc(3)
    metrics.events.labels("review").inc(2)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = start_http_server("127.0.0.1", port, metrics.registry, lambda: (True, {}))
    try:
        samples = scrape(port)
    finally:
        server.shutdown()
    assert total(samples, "tagger_events_total") == 5
    assert total(samples, "tagger_events_total", outcome="review") == 2

"""A real Prometheus scrapes the running service and the reviewer app (each as the job the
deployed config names); every dashboard query and alert runs on it."""

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse
import urllib.request
import uuid

import pytest
import yaml

from chaos.services import free_ports
from consumer.config import topic_env
from consumer.topics import ensure_topics
from tests.support.harness import ROOT, ServiceProcess, produce, start_module, unique_topics
from tests.support.promql import (
    ALERTS,
    REVIEWER_JOB,
    SERVICE_JOB,
    alert_rules,
    all_exprs,
    load_dashboard,
)
from tests.support.records import event

pytestmark = pytest.mark.integration

PROM_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
GRAFANA_VARS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "5m"}


def _dashboard_exprs() -> list[str]:
    exprs = all_exprs(load_dashboard())
    for var, value in GRAFANA_VARS.items():
        exprs = [e.replace(var, value) for e in exprs]
    return exprs


def _alert_exprs() -> list[tuple[str, str]]:
    return [(r["alert"], r["expr"]) for r in alert_rules()]


def _get(port: int, path: str, **params: str) -> dict:
    url = f"http://127.0.0.1:{port}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def _query(port: int, expr: str) -> dict:
    return _get(port, "/api/v1/query", query=expr)


def _up(port: int, job: str) -> bool:
    result = _query(port, f'up{{job="{job}"}}')["data"]["result"]
    return bool(result) and result[0]["value"][1] == "1"


def _start_reviewer(bootstrap: str, topics, tmp) -> tuple[subprocess.Popen, int]:
    """`python -m reviewer` as compose runs it, on the test's topics; returns once it is healthy."""
    [port] = free_ports(1)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        **topic_env(topics),
        "REVIEWER_HOST": "127.0.0.1",
        "REVIEWER_PORT": str(port),
        "REVIEWER_GROUP_ID": f"reviewer-{uuid.uuid4().hex[:8]}",
        "REVIEWER_TOKENS": "scrape-token:scrape",
        "REVIEWER_SECRET_KEY": "scrape-test-signing-key",
    }
    ready = lambda: ServiceProcess.health_at(port) is not None  # noqa: E731
    return start_module("reviewer", env, tmp / "reviewer.log", ready, 120), port


@pytest.fixture(scope="module")
def scraped(services, model_dir, tmp_path_factory):
    if shutil.which("prometheus") is None:
        pytest.fail("prometheus is not installed (scripts/install-system.sh installs it)")
    tmp = tmp_path_factory.mktemp("prometheus")
    topics = unique_topics(3, services.bootstrap)
    ensure_topics(services.bootstrap, topics, 3, output_partitions=2, feedback=True)
    svc = ServiceProcess(
        bootstrap=services.bootstrap,
        redis_url=services.redis_url,
        model_dir=model_dir,
        topics=topics,
        log_path=tmp / "service.log",
        # A challenger (the same model) and a short drift window, so the dashboard's shadow and
        # drift panels have live series too.
        extra_env={
            "SHADOW_MODEL_URI": str(model_dir),
            "DRIFT_WINDOW_EVENTS": "200",
            "DRIFT_MIN_EVENTS": "50",
        },
    )
    svc.start()
    try:
        reviewer, reviewer_port = _start_reviewer(services.bootstrap, topics, tmp)
    except Exception:
        svc.stop_quietly()
        raise
    [prom_port] = free_ports(1)
    config = yaml.safe_load(PROM_CONFIG.read_text())
    config["global"]["scrape_interval"] = "1s"
    config["global"]["evaluation_interval"] = "1s"
    config["rule_files"] = [str(ALERTS)]
    for job in config["scrape_configs"]:
        if job["job_name"] == SERVICE_JOB:
            job["static_configs"] = [
                {"targets": [f"127.0.0.1:{svc.metrics_port}"], "labels": {"worker": "0"}}
            ]
        elif job["job_name"] == REVIEWER_JOB:
            job["static_configs"] = [{"targets": [f"127.0.0.1:{reviewer_port}"]}]
        else:
            job["static_configs"] = [{"targets": [f"127.0.0.1:{prom_port}"]}]
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    prom = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=(tmp / "prometheus.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        # A steady trickle with duplicates and garbage, so every rate and quantile has samples.
        values = []
        for i in range(400):
            values.append(event(f"p-{i}", f"Image segmentation method {i}", "pixels and masks"))
            if i % 20 == 0:
                values += [
                    event(f"d-{i}", f"IMAGE segmentation method {i}!", "pixels and masks"),
                    b"not json",
                ]
        feeder = threading.Thread(
            target=produce, args=(services.bootstrap, topics.input, values), kwargs={"rate": 40}
        )
        feeder.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                both_up = _up(prom_port, SERVICE_JOB) and _up(prom_port, REVIEWER_JOB)
                if both_up and time.monotonic() > deadline - 45:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        yield prom_port
        feeder.join()
    finally:
        prom.send_signal(signal.SIGTERM)
        prom.wait(20)
        svc.stop_quietly()
        if reviewer.poll() is None:
            reviewer.kill()
            reviewer.wait(10)


@pytest.mark.parametrize("expr", _dashboard_exprs())
def test_dashboard_query_returns_data(scraped, expr):
    answer = _query(scraped, expr)
    assert answer["status"] == "success"
    assert answer["data"]["result"], f"no data for {expr}"


@pytest.mark.parametrize(("alert", "expr"), _alert_exprs())
def test_alert_expression_is_valid_against_live_metrics(scraped, alert, expr):
    assert _query(scraped, expr)["status"] == "success"


def test_every_alert_rule_loads_healthy(scraped):
    groups = _get(scraped, "/api/v1/rules")["data"]["groups"]
    rules = {r["name"]: r["health"] for g in groups for r in g["rules"]}
    assert {name for name, _ in _alert_exprs()} <= set(rules)
    for _ in range(20):
        if all(h == "ok" for h in rules.values()):
            break
        time.sleep(0.5)
        groups = _get(scraped, "/api/v1/rules")["data"]["groups"]
        rules = {r["name"]: r["health"] for g in groups for r in g["rules"]}
    assert {n: h for n, h in rules.items() if h != "ok"} == {}

"""A real Prometheus scrapes the running service; every dashboard query and alert runs on it."""

import json
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import pytest
import yaml

from tests.support.harness import ROOT, ServiceProcess, produce, unique_topics
from tests.support.promql import ALERTS, alert_rules, all_exprs, load_dashboard
from tests.support.records import event
from tests.support.servers import free_ports

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


@pytest.fixture(scope="module")
def scraped(services, model_dir, tmp_path_factory):
    if shutil.which("prometheus") is None:
        pytest.fail("prometheus is not installed (scripts/install-system.sh installs it)")
    tmp = tmp_path_factory.mktemp("prometheus")
    topics = unique_topics(3, services.bootstrap)
    svc = ServiceProcess(
        bootstrap=services.bootstrap,
        redis_url=services.redis_url,
        model_dir=model_dir,
        topics=topics,
        log_path=tmp / "service.log",
    )
    svc.start()
    [prom_port] = free_ports(1)
    config = yaml.safe_load(PROM_CONFIG.read_text())
    config["global"]["scrape_interval"] = "1s"
    config["global"]["evaluation_interval"] = "1s"
    config["rule_files"] = [str(ALERTS)]
    for job in config["scrape_configs"]:
        if job["job_name"] == "content-tagger":
            job["static_configs"] = [
                {"targets": [f"127.0.0.1:{svc.metrics_port}"], "labels": {"worker": "0"}}
            ]
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
                up = _query(prom_port, 'up{job="content-tagger"}')["data"]["result"]
                if up and up[0]["value"][1] == "1" and time.monotonic() > deadline - 45:
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

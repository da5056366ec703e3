"""Prometheus config and alert rules: promtool checks, unit tests, coverage and metric names.

promtool comes with Debian's `prometheus` package (CI installs it); the promtool tests skip only
when it is absent. The coverage and metric-name checks need no promtool.
"""

import re
import shutil
import subprocess

import pytest
import yaml

from tests.support import ROOT
from tests.support.promql import (
    ALERTS,
    alert_rules,
    exported_metric_names,
    exported_metric_names_by_job,
    metric_names_in,
)

PROM = ROOT / "deploy" / "prometheus"
CONFIG = PROM / "prometheus.yml"
ALERTS_TEST = PROM / "alerts_test.yml"
SEVERITIES = {"critical", "warning"}


def alert_rule_tests() -> list[dict]:
    tests = yaml.safe_load(ALERTS_TEST.read_text())["tests"]
    return [case for test in tests for case in test.get("alert_rule_test", [])]


def promtool(*args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("promtool not installed (Debian package `prometheus`; CI installs it)")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_promtool_check_config_passes():
    result = promtool("check", "config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_rules_passes():
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_unit_tests_pass():
    result = promtool("test", "rules", str(ALERTS_TEST))
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_config_loads_the_alert_rules():
    config = yaml.safe_load(CONFIG.read_text())
    assert "alerts.yml" in config["rule_files"]


def test_prometheus_config_scrapes_the_tagger_job():
    config = yaml.safe_load(CONFIG.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = [t for sc in jobs["content-tagger"]["static_configs"] for t in sc["targets"]]
    assert "tagger:9108" in targets


def test_prometheus_config_scrapes_the_reviewer_app_on_its_port():
    config = yaml.safe_load(CONFIG.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    reviewer = jobs["content-tagger-reviewer"]
    assert reviewer["metrics_path"] == "/metrics"
    assert [t for sc in reviewer["static_configs"] for t in sc["targets"]] == ["reviewer:8088"]


def test_rule_unit_tests_load_the_alert_rules():
    assert yaml.safe_load(ALERTS_TEST.read_text())["rule_files"] == ["alerts.yml"]


def test_alert_names_are_unique():
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names))


def test_every_alert_has_a_firing_test_case():
    firing = {case["alertname"] for case in alert_rule_tests() if case.get("exp_alerts")}
    missing = {rule["alert"] for rule in alert_rules()} - firing
    assert not missing, f"alerts without a firing test in alerts_test.yml: {sorted(missing)}"


def test_every_alert_has_a_not_firing_test_case():
    silent = {case["alertname"] for case in alert_rule_tests() if not case.get("exp_alerts")}
    missing = {rule["alert"] for rule in alert_rules()} - silent
    assert not missing, f"alerts without a not-firing test in alerts_test.yml: {sorted(missing)}"


def test_rule_unit_tests_only_name_existing_alerts():
    known = {rule["alert"] for rule in alert_rules()}
    assert {case["alertname"] for case in alert_rule_tests()} <= known


def test_every_alert_has_a_known_severity():
    for rule in alert_rules():
        assert rule.get("labels", {}).get("severity") in SEVERITIES, rule["alert"]


def test_every_alert_has_summary_and_description():
    for rule in alert_rules():
        annotations = rule.get("annotations", {})
        assert annotations.get("summary"), rule["alert"]
        assert annotations.get("description"), rule["alert"]


def test_every_alert_waits_before_firing():
    for rule in alert_rules():
        assert re.fullmatch(r"\d+[smh]", str(rule.get("for", ""))), rule["alert"]


def test_alert_exprs_use_only_exported_metric_names():
    exported = exported_metric_names()
    for rule in alert_rules():
        unknown = metric_names_in(rule["expr"]) - exported
        assert not unknown, f"{rule['alert']}: {sorted(unknown)} not exported"


def test_each_down_alert_watches_exactly_one_job():
    watched = {
        rule["alert"]: re.findall(r'job="([^"]*)"', rule["expr"])
        for rule in alert_rules()
        if "up" in metric_names_in(rule["expr"])
    }
    assert watched == {
        "TaggerInstanceDown": ["content-tagger"],
        "TaggerReviewerDown": ["content-tagger-reviewer"],
    }


def test_each_alert_uses_one_jobs_metrics_and_selects_no_other_job():
    by_job = exported_metric_names_by_job()
    for rule in alert_rules():
        names = metric_names_in(rule["expr"]) - {"up"}
        owners = {job for job, exported in by_job.items() if names and names <= exported}
        selected = set(re.findall(r'job="([^"]*)"', rule["expr"]))
        assert not names or len(owners) == 1, rule["alert"]
        assert selected <= owners or not names, rule["alert"]


def test_review_loop_alerts_select_the_reviewer_job():
    for name in ("TaggerReviewQueueGrowing", "TaggerReviewerDown"):
        (rule,) = [r for r in alert_rules() if r["alert"] == name]
        selectors = re.findall(r"\{([^}]*)\}", rule["expr"])
        assert selectors, name
        assert all(sel == 'job="content-tagger-reviewer"' for sel in selectors), name

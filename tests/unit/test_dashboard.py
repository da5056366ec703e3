"""Lint of the provisioned Grafana dashboard: datasource, queries, metric names.

The metric-name check parses names out of PromQL with a regex and compares them with what
consumer/metrics.py and reviewer/metrics.py register, so renaming a metric without updating the
dashboard fails here.
"""

import re
import shutil
import subprocess

import pytest
import yaml

from tests.support import ROOT
from tests.support.promql import (
    REVIEWER_JOB,
    SERVICE_JOB,
    all_exprs,
    all_panels,
    exported_metric_names,
    exported_metric_names_by_job,
    load_dashboard,
    metric_names_in,
)

GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD_DIR = GRAFANA / "dashboards"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "dashboards.yml"

# Grafana's built-in variables that a query may use; anything else ($foo) would need a
# template variable that a plain Prometheus HTTP API call cannot resolve.
ALLOWED_VARIABLES = {"__rate_interval"}


def datasource_refs(node) -> list:
    """Every value of a `datasource` key anywhere in the JSON tree."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                found.append(value)
            found.extend(datasource_refs(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(datasource_refs(item))
    return found


def provisioned_uid() -> str:
    (datasource,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    return datasource["uid"]


def test_metric_name_parser_ignores_functions_labels_and_keywords():
    expr = (
        'histogram_quantile(0.99, sum by (job, le) (rate(a_bucket{job="x",le=~"0.1|inf"}[5m])))'
        " > 1.5e-3 and on (job) b_total offset 15m / ignoring (tag) group_left c"
        " unless d[$__rate_interval]"
    )
    assert metric_names_in(expr) == {"a_bucket", "b_total", "c", "d"}


def test_exported_names_expand_histograms_counters_and_info():
    names = exported_metric_names()
    assert {
        "tagger_events_total",
        "tagger_end_to_end_seconds_bucket",
        "tagger_batch_size_count",
        "tagger_model_info",
        "tagger_consumer_lag",
        "up",
        "tagger_review_queue_depth",
        "tagger_review_decisions_total",
        "tagger_review_decision_seconds_bucket",
    } <= names


def test_provisioned_datasource_has_fixed_uid_and_points_at_prometheus():
    (datasource,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    assert datasource["uid"] == "prometheus"
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"


def test_dashboard_provider_loads_the_mounted_dashboard_folder():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    (provider,) = yaml.safe_load(PROVIDERS.read_text())["providers"]
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in mounts


def test_dashboard_has_uid_title_and_panels():
    dashboard = load_dashboard()
    assert dashboard["uid"] == "content-tagger"
    assert dashboard["title"]
    assert len(all_panels(dashboard)) >= 10


def test_panel_ids_are_unique():
    ids = [p["id"] for p in all_panels(load_dashboard())]
    assert len(ids) == len(set(ids))


def test_every_panel_has_a_target_with_a_non_empty_expr():
    for panel in all_panels(load_dashboard()):
        exprs = [t.get("expr", "").strip() for t in panel.get("targets", [])]
        assert exprs, f"panel {panel['title']!r} has no targets"
        assert all(exprs), f"panel {panel['title']!r} has a target without expr"


def test_every_datasource_reference_uses_the_provisioned_uid():
    uid = provisioned_uid()
    refs = datasource_refs(load_dashboard())
    assert refs
    for ref in refs:
        assert isinstance(ref, dict), f"datasource given by name, not uid: {ref!r}"
        assert ref == {"type": "prometheus", "uid": uid}


def test_every_panel_and_target_names_its_datasource():
    dashboard = load_dashboard()
    for panel in all_panels(dashboard):
        assert "datasource" in panel, panel["title"]
        for target in panel["targets"]:
            assert "datasource" in target, panel["title"]


def test_every_metric_in_queries_is_exported_by_the_service():
    exported = exported_metric_names()
    for expr in all_exprs(load_dashboard()):
        unknown = metric_names_in(expr) - exported
        assert not unknown, f"{sorted(unknown)} exported by neither service nor reviewer: {expr}"


def test_every_query_selects_the_job_that_exports_its_metrics():
    by_job = exported_metric_names_by_job()
    for expr in all_exprs(load_dashboard()):
        jobs = set(re.findall(r'job="([^"]*)"', expr))
        assert len(jobs) == 1, f"one job per query: {expr}"
        (job,) = jobs
        assert metric_names_in(expr) - {"up"} <= by_job[job], expr


def test_queries_use_no_template_variables_besides_rate_interval():
    dashboard = load_dashboard()
    assert dashboard.get("templating", {}).get("list", []) == []
    for expr in all_exprs(dashboard):
        variables = set(re.findall(r"\$\{?(\w+)", expr))
        assert variables <= ALLOWED_VARIABLES, expr


def test_dashboard_shows_every_required_signal():
    referenced = set().union(*(metric_names_in(e) for e in all_exprs(load_dashboard())))
    required = {
        "tagger_events_total",
        "tagger_tags_total",
        "tagger_classification_seconds_bucket",
        "tagger_end_to_end_seconds_bucket",
        "tagger_consumer_lag",
        "tagger_redis_errors_total",
        "tagger_kafka_errors_total",
        "tagger_model_info",
        "up",
        "tagger_batch_size_bucket",
        "tagger_paused",
    }
    assert required <= referenced, sorted(required - referenced)


def rows_of(dashboard: dict) -> list[dict]:
    return [p for p in dashboard["panels"] if p.get("type") == "row"]


def panels_in_row(dashboard: dict, title: str) -> list[dict]:
    """The panels below the row called `title` and above the next row."""
    rows = rows_of(dashboard)
    (row,) = [r for r in rows if r["title"] == title]
    top = row["gridPos"]["y"]
    below = [r["gridPos"]["y"] for r in rows if r["gridPos"]["y"] > top]
    bottom = min(below, default=float("inf"))
    return [
        p
        for p in dashboard["panels"]
        if p.get("type") != "row" and top < p["gridPos"]["y"] < bottom
    ]


def test_dashboard_rows_are_model_lifecycle_then_review_loop_then_transactions():
    assert [row["title"] for row in rows_of(load_dashboard())] == [
        "Model lifecycle",
        "Review loop",
        "Exactly-once transactions",
    ]


def test_transactions_row_shows_results_commit_time_and_fatal_exits():
    panels = panels_in_row(load_dashboard(), "Exactly-once transactions")
    exprs = [t["expr"] for p in panels for t in p["targets"]]
    referenced = set().union(*(metric_names_in(e) for e in exprs))
    assert {
        "tagger_transactions_total",
        "tagger_transaction_commit_seconds_bucket",
        "tagger_transaction_fatal_errors_total",
        "tagger_start_time_seconds",
    } <= referenced


def test_model_lifecycle_row_shows_versions_reloads_shadow_and_drift():
    panels = panels_in_row(load_dashboard(), "Model lifecycle")
    exprs = [t["expr"] for p in panels for t in p["targets"]]
    referenced = set().union(*(metric_names_in(e) for e in exprs))
    assert {
        "tagger_model_info",
        "tagger_model_reloads_total",
        "tagger_shadow_challenger_info",
        "tagger_shadow_agreement_total",
        "tagger_shadow_tags_total",
        "tagger_shadow_confidence_bucket",
        "tagger_drift_psi",
        "tagger_review_share",
    } <= referenced
    assert all(f'job="{SERVICE_JOB}"' in e for e in exprs)


def test_model_lifecycle_row_shows_champion_and_challenger_side_by_side():
    panels = panels_in_row(load_dashboard(), "Model lifecycle")
    for metric in ("tagger_shadow_tags_total", "tagger_shadow_confidence_bucket"):
        by_model = {
            model: [
                p["gridPos"]["y"]
                for p in panels
                if any(
                    metric in t["expr"] and f'model="{model}"' in t["expr"] for t in p["targets"]
                )
            ]
            for model in ("champion", "challenger")
        }
        assert by_model["champion"] and by_model["champion"] == by_model["challenger"], metric


def test_drift_panel_marks_the_alert_thresholds():
    (panel,) = [
        p
        for p in panels_in_row(load_dashboard(), "Model lifecycle")
        if any("tagger_drift_psi" in t["expr"] for t in p["targets"])
    ]
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [step["value"] for step in steps] == [None, 0.1, 0.25]


def test_panels_do_not_overlap():
    boxes = [p["gridPos"] for p in all_panels(load_dashboard())]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart = (
                a["x"] + a["w"] <= b["x"]
                or b["x"] + b["w"] <= a["x"]
                or a["y"] + a["h"] <= b["y"]
                or b["y"] + b["h"] <= a["y"]
            )
            assert apart, (a, b)


def test_review_loop_row_shows_the_reviewer_apps_signals():
    exprs = [
        t["expr"] for p in panels_in_row(load_dashboard(), "Review loop") for t in p["targets"]
    ]
    referenced = set().union(*(metric_names_in(e) for e in exprs))
    assert {
        "tagger_review_queue_depth",
        "tagger_review_items_waiting_seconds",
        "tagger_review_decisions_total",
        "tagger_review_corrections_total",
        "tagger_review_decision_seconds_bucket",
        "up",
    } <= referenced
    assert all(f'job="{REVIEWER_JOB}"' in e and f'job="{SERVICE_JOB}"' not in e for e in exprs)
    assert any("sum by (action)" in e for e in exprs)
    assert any("sum by (predicted_tag)" in e for e in exprs)
    quantiles = {float(q) for e in exprs for q in re.findall(r"histogram_quantile\(([\d.]+), ", e)}
    assert quantiles == {0.5, 0.95}


def test_latency_panels_take_quantiles_of_bucket_rates_by_le():
    quantile_exprs = [e for e in all_exprs(load_dashboard()) if "histogram_quantile" in e]
    assert quantile_exprs
    for expr in quantile_exprs:
        assert re.search(r"sum by \((?:[\w, ]*\b)?le\) \(rate\(\w+_bucket", expr), expr


def test_every_query_parses_as_promql(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package `prometheus`)")
    exprs = [e.replace("$__rate_interval", "1m") for e in all_exprs(load_dashboard())]
    rules = {
        "groups": [
            {
                "name": "dashboard-queries",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr

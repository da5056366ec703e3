"""The deployed PromQL (dashboard panels, alert rules), which metric names it uses, and which the
service and the reviewer app export."""

import json
import re

import yaml

from tests.support import ROOT

DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "content-tagger.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"


def load_dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def all_panels(dashboard: dict) -> list[dict]:
    panels = []
    for panel in dashboard.get("panels", []):
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # panels nested in collapsed rows
    return [p for p in panels if p.get("type") != "row"]


def all_targets(dashboard: dict) -> list[dict]:
    return [t for p in all_panels(dashboard) for t in p.get("targets", [])]


def all_exprs(dashboard: dict) -> list[str]:
    return [t["expr"] for t in all_targets(dashboard) if t.get("expr")]


def alert_rules() -> list[dict]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


# Words that look like metric names in PromQL but are operators or modifiers.
PROMQL_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "inf", "nan"}
    | {"by", "without", "on", "ignoring", "group_left", "group_right"}
)


# Prometheus job of each registry's process (deploy/prometheus/prometheus.yml, the PodMonitors).
SERVICE_JOB = "content-tagger"
REVIEWER_JOB = "content-tagger-reviewer"


def exported_metric_names_by_job() -> dict[str, set[str]]:
    """Series names each scrape job exposes, from the process' own registry: the service's
    (consumer/metrics.py) and the reviewer app's (reviewer/metrics.py)."""
    from consumer.metrics import Metrics
    from reviewer.metrics import ReviewerMetrics

    suffixes = {
        "counter": ("_total",),
        "gauge": ("",),
        "histogram": ("_bucket", "_sum", "_count"),
        "summary": ("", "_sum", "_count"),
        "info": ("_info",),
        "stateset": ("",),
        "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
        "unknown": ("",),
    }
    by_job: dict[str, set[str]] = {}
    for job, registry in (
        (SERVICE_JOB, Metrics().registry),
        (REVIEWER_JOB, ReviewerMetrics().registry),
    ):
        names = by_job[job] = set()
        for family in registry.collect():
            names.update(family.name + suffix for suffix in suffixes[family.type])
            names.update(s.name for s in family.samples if not s.name.endswith("_created"))
    return by_job


def exported_metric_names() -> set[str]:
    """Series names the service and the reviewer app expose, plus Prometheus' `up`."""
    return {"up"}.union(*exported_metric_names_by_job().values())


def metric_names_in(expr: str) -> set[str]:
    """Metric names referenced by a PromQL expression (functions, keywords, labels excluded)."""
    s = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    s = re.sub(r"'(?:\\.|[^'\\])*'", "''", s)
    s = re.sub(r"\{[^}]*\}", " ", s)  # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)  # range and subquery windows
    s = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\$\{?\w+\}?", " ", s)  # Grafana variables
    names = set()
    for match in re.finditer(r"(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?", s):
        name, is_call = match.group(1), match.group(2)
        if not is_call and name.lower() not in PROMQL_KEYWORDS:
            names.add(name)
    return names

"""Pure helpers of the benchmark suite: statistics, target checks and report formatting."""

import math

import pytest

from bench.report import check_targets, lookup, markdown, table
from bench.stats import percentile, rate, ratio, summarize


def test_percentile_interpolates_like_numpy():
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 99) == pytest.approx(3.97)


def test_percentile_of_one_value_and_of_none():
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


def test_percentile_rejects_out_of_range():
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summarize_sorts_and_scales():
    s = summarize([3000, 1000, 2000], scale=1e-3)
    assert s["n"] == 3
    assert s["p50"] == pytest.approx(2.0)
    assert s["max"] == pytest.approx(3.0)
    assert s["mean"] == pytest.approx(2.0)


def test_rate_and_ratio_handle_zero():
    assert rate(100, 0.0) == 0.0
    assert rate(100, 2.0) == 50.0
    assert ratio(1.0, 0.0) is None
    assert ratio(1.0, 4.0) == 0.25


REPORT = {
    "stages_us": {"normalise_predict": {"p50": 6.0, "p99": 9.0, "mean": 6.5}},
    "drain": {"service_eps": 31_000.0, "passthrough_eps": 100_000.0, "ratio": 0.31},
    "latency_ms": [
        {"rate": 1000, "achieved_rate": 999.0, "p50": 4, "p95": 6, "p99": 8, "max": 9},
        {"rate": 5000, "achieved_rate": 4990.0, "p50": 5, "p95": 9, "p99": 12, "max": 20},
    ],
}


def test_lookup_selects_latency_entry_by_rate():
    assert lookup(REPORT, ("latency_ms", 5000, "p99")) == 12.0
    assert lookup(REPORT, ("latency_ms", 10000, "p99")) is None
    assert lookup(REPORT, ("scale", "ratio")) is None


def test_targets_are_checked_in_both_directions():
    targets = {t["name"]: t for t in check_targets(REPORT)}
    assert targets["service drain eps (1 process)"]["met"] is True
    assert targets["service / passthrough"]["met"] is False
    assert targets["normalise + predict p50"]["met"] is False
    assert targets["e2e p99 at 5k ev/s"]["met"] is False
    assert targets["pipeline per event p50"]["met"] is None  # not measured


def test_table_aligns_columns():
    lines = table(["name", "value"], [["a", 1.5], ["long name", 12_345.0]]).splitlines()
    assert lines[0].startswith("| name")
    assert len({len(line) for line in lines}) == 1
    assert "12,345" in lines[3]


def test_markdown_has_every_section():
    text = markdown(REPORT)
    assert "| target" in text and "| stage" in text and "| rate" in text
    assert "31,000" in text

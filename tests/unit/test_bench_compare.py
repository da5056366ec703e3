"""`python -m bench.compare REV --measure drain`: what its report says of two services."""

import pytest

from bench import compare


def _cpu(process: float, redis: float | None) -> dict[str, float | None]:
    return {"process": process, "redis": redis, "broker": 1.0, "machine": 20.0}


def _runs(process: list[float], redis: list[float | None]) -> list[dict[str, float | None]]:
    return [_cpu(p, r) for p, r in zip(process, redis, strict=True)]


def _drains(redis_before: list[float | None]) -> dict[str, dict[str, list]]:
    return {
        "REV": {
            "eps": [40.0, 50.0, 45.0],
            "ratio": [0.1, 0.12, 0.11],
            "cpu_us_per_event": _runs([24.0, 20.0, 22.0], redis_before),
        },
        "this tree": {
            "eps": [90.0, 100.0, 80.0],
            "ratio": [0.22, 0.25, 0.2],
            "cpu_us_per_event": _runs([11.0, 10.0, 12.0], [3.0, 3.2, 3.1]),
        },
    }


def test_the_drain_report_gives_each_trees_medians_and_their_ratio(
    capsys: pytest.CaptureFixture[str],
) -> None:
    compare._report_drain("REV", "this tree", 3, _drains([3.5, 3.7, 3.6]))
    line = capsys.readouterr().out.splitlines()[0]
    assert "events/s REV 45, this tree 90 (2.00x)" in line
    assert "process CPU µs per event 22.00, 11.00" in line
    assert "Redis CPU µs per event 3.60, 3.10" in line
    assert "service / passthrough 0.110, 0.220" in line


def test_redis_cpu_is_unknown_when_any_round_could_not_read_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    compare._report_drain("REV", "this tree", 3, _drains([3.5, None, 3.6]))
    assert "Redis CPU µs per event unknown, 3.10" in capsys.readouterr().out

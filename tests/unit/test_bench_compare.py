"""`python -m bench.compare REV --measure drain`: what its report says of two services."""

import pytest

from bench import compare


def _rounds(
    eps: list[float], ratios: list[float], process: list[float], redis: list[float | None]
) -> list[dict]:
    return [
        {
            "eps": e,
            "ratio": r,
            "cpu_us_per_event": {"process": p, "redis": rd, "broker": 1.0, "machine": 20.0},
        }
        for e, r, p, rd in zip(eps, ratios, process, redis, strict=True)
    ]


def _drains(redis_before: list[float | None]) -> dict[str, list[dict]]:
    return {
        "REV": _rounds([40.0, 50.0, 45.0], [0.1, 0.12, 0.11], [24.0, 20.0, 22.0], redis_before),
        "this tree": _rounds(
            [90.0, 100.0, 80.0], [0.22, 0.25, 0.2], [11.0, 10.0, 12.0], [3.0, 3.2, 3.1]
        ),
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

"""Pure statistics helpers (no I/O): percentiles and summaries of timing samples."""

import math
from collections.abc import Iterable, Sequence


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, linearly interpolated (NumPy's
    default); NaN for no values."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q} is outside [0, 100]")
    n = len(sorted_values)
    if n == 0:
        return math.nan
    rank = (n - 1) * q / 100.0
    lo = math.floor(rank)
    hi = min(lo + 1, n - 1)
    frac = rank - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def summarize(
    values: Iterable[float], scale: float = 1.0, quantiles: Sequence[float] = (50, 95, 99)
) -> dict[str, float]:
    """n, mean, max and the given percentiles (keys p50, p95, ...) of values × scale."""
    data = sorted(v * scale for v in values)
    out: dict[str, float] = {"n": len(data)}
    for q in quantiles:
        out[f"p{q:g}"] = percentile(data, q)
    out["mean"] = sum(data) / len(data) if data else math.nan
    out["max"] = data[-1] if data else math.nan
    return out


def rate(count: int, seconds: float) -> float:
    """Events per second; 0.0 when no time elapsed."""
    return count / seconds if seconds > 0 else 0.0


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator; None when either is unknown or the denominator is 0."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator

"""Pick the confidence threshold below which events go to human review."""

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Selective:
    threshold: float
    coverage: float
    precision: float
    met: bool


def precision_coverage_curve(
    confidences: Sequence[float], correct: Sequence[bool]
) -> list[tuple[float, float, float]]:
    """(threshold, coverage, precision of kept events) at every distinct confidence, high to low."""
    n = len(confidences)
    order = sorted(range(n), key=lambda i: confidences[i], reverse=True)
    curve: list[tuple[float, float, float]] = []
    hits = 0
    for pos, i in enumerate(order):
        kept = pos + 1
        hits += bool(correct[i])
        last_of_tie = pos + 1 == n or confidences[order[pos + 1]] != confidences[i]
        if last_of_tie:
            curve.append((confidences[i], kept / n, hits / kept))
    return curve


def selective_at(
    confidences: Sequence[float], correct: Sequence[bool], threshold: float
) -> dict[str, float]:
    """Coverage and precision of the events a given threshold keeps."""
    kept = [ok for c, ok in zip(confidences, correct, strict=True) if c >= threshold]
    return {
        "threshold": threshold,
        "coverage": len(kept) / len(confidences) if confidences else 0.0,
        "precision": sum(kept) / len(kept) if kept else 0.0,
    }


def calibrate_threshold(
    confidences: Sequence[float], correct: Sequence[bool], target_precision: float = 0.95
) -> Selective:
    """Lowest threshold whose kept events (confidence ≥ threshold) reach the target precision.

    If no threshold reaches it, everything goes to review (threshold 1.0 keeps only certain events).
    """
    if len(confidences) != len(correct) or not confidences:
        raise ValueError("need equally many, and at least one, confidences and outcomes")
    best: tuple[float, float, float] | None = None
    for threshold, coverage, precision in precision_coverage_curve(confidences, correct):
        if precision >= target_precision:
            best = (threshold, coverage, precision)
    if best is None:
        certain = selective_at(confidences, correct, 1.0)
        return Selective(1.0, certain["coverage"], certain["precision"], False)
    return Selective(best[0], best[1], best[2], True)

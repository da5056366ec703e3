"""How a model's answers are summarised for drift monitoring: a share per approved tag and a
histogram of the top confidence.

Training computes the artifact's reference distributions (`ArtifactMetadata.reference`) with these
functions, and the service bins live traffic with the same ones, so the drift monitor's PSI
compares like with like: same edges, same edge rules, same tag order. Plain Python (no numpy) so
the service can call it per event without converting arrays.
"""

from bisect import bisect_right
from collections.abc import Sequence
from itertools import pairwise
from math import isnan
from typing import Final

from schemas.tags import APPROVED_TAGS

DEFAULT_EDGES: Final[tuple[float, ...]] = tuple(i / 10 for i in range(11))
"""Ten equal bins over [0, 1]: bin i is [edges[i], edges[i+1]) and the last bin includes 1."""


def _check_edges(edges: Sequence[float]) -> None:
    """Refuse edges that would make a histogram ambiguous: fewer than two, or not ascending."""
    if len(edges) < 2:
        raise ValueError(f"a histogram needs at least two edges, got {list(edges)}")
    if any(b <= a for a, b in pairwise(edges)):
        raise ValueError(f"histogram edges must be strictly ascending, got {list(edges)}")


def bin_index(confidence: float, edges: Sequence[float] = DEFAULT_EDGES) -> int:
    """The bin a confidence falls in: bin i is [edges[i], edges[i+1]), the last bin also holds
    edges[-1].

    Values outside the edges are clamped to the first or last bin (a probability of 1.0000001 from
    float rounding is still "very confident"); NaN is refused, since it belongs to no bin.

    :param confidence: the top answer's confidence, normally in [0, 1].
    :param edges: ascending bin edges (`DEFAULT_EDGES` unless the reference says otherwise).
    :returns: an index in ``range(len(edges) - 1)``.
    """
    if isnan(confidence):
        raise ValueError("a NaN confidence belongs to no histogram bin")
    last = len(edges) - 2
    return min(max(bisect_right(edges, confidence) - 1, 0), last)


def confidence_histogram(
    confidences: Sequence[float], edges: Sequence[float] = DEFAULT_EDGES
) -> list[float]:
    """The share of confidences in each bin (see `bin_index`); sums to 1, or all zeros when there
    are no confidences (no traffic is not a distribution, and the caller decides what that means).

    :param confidences: top-answer confidences.
    :param edges: ascending bin edges; the result has ``len(edges) - 1`` values.
    """
    _check_edges(edges)
    counts = [0] * (len(edges) - 1)
    for confidence in confidences:
        counts[bin_index(confidence, edges)] += 1
    total = len(confidences)
    if total == 0:
        return [0.0] * len(counts)
    return [count / total for count in counts]


def tag_shares(tags: Sequence[str]) -> dict[str, float]:
    """Each approved tag's share of the given answers, every approved tag present (0.0 when
    unseen), in `APPROVED_TAGS` order; all zeros for no answers.

    :raises ValueError: for a tag outside the approved set, which no verified model can produce.
    """
    counts = dict.fromkeys(APPROVED_TAGS, 0)
    for tag in tags:
        if tag not in counts:
            raise ValueError(f"unapproved tag {tag!r}; approved: {list(APPROVED_TAGS)}")
        counts[tag] += 1
    total = len(tags)
    if total == 0:
        return dict.fromkeys(APPROVED_TAGS, 0.0)
    return {tag: count / total for tag, count in counts.items()}

"""Parity of two `Predictor`s on the same models: the compiled batch path (`Classifier`) against
fastText's own per-line call (`ReferencePredictor`)."""

from collections.abc import Sequence

import numpy as np

from inference.predictor import Predictor
from inference.text import normalise_text

BIN_STEP = 0.25 * 16 / 512
"""One bin of fastText's sigmoid table: the most a score on a bin edge can move a probability."""


def assert_same_answers(
    predictor: Predictor, oracle: Predictor, pairs: Sequence[tuple[str, str]]
) -> None:
    """Both answer raw (title, description) pairs alike: the same labels, every probability
    within a bin, and at least 99% of answers within 1e-6 (float rounding)."""
    assert predictor.labels == oracle.labels
    normalised = [(normalise_text(t), normalise_text(d)) for t, d in pairs]
    got = np.array([list(p.values()) for _, _, p in predictor.predict_normalised(normalised)])
    expected = np.array([list(p.values()) for _, _, p in oracle.predict_normalised(normalised)])
    assert got.shape == expected.shape == (len(pairs), len(oracle.labels))
    gaps = np.abs(got - expected).max(axis=1)
    assert gaps.max() <= BIN_STEP
    assert np.mean(gaps <= 1e-6) >= 0.99, f"{np.sum(gaps > 1e-6)} of {len(pairs)} answers differ"

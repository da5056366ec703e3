"""The drift reference: how confidences and tags are binned, identically in training (the
artifact's `reference`) and in the service (live traffic)."""

import math
from itertools import pairwise
from pathlib import Path

import pytest

from inference.artifact import load_artifact
from inference.drift_reference import (
    DEFAULT_EDGES,
    bin_index,
    confidence_histogram,
    tag_shares,
)
from schemas.artifact import ReferenceDistributions
from schemas.tags import APPROVED_TAGS
from tests.support import synthetic
from training.train import train


def test_default_edges_are_ten_equal_bins_over_zero_to_one():
    assert len(DEFAULT_EDGES) == 11
    assert DEFAULT_EDGES[0] == 0.0 and DEFAULT_EDGES[-1] == 1.0
    assert all(b - a == pytest.approx(0.1) for a, b in pairwise(DEFAULT_EDGES))


def test_a_confidence_on_an_edge_falls_in_the_bin_that_starts_there():
    assert bin_index(0.3) == 3
    assert bin_index(0.0) == 0


def test_a_confidence_of_one_falls_in_the_last_bin():
    assert bin_index(1.0) == 9


def test_confidences_outside_the_edges_are_clamped_to_the_end_bins():
    assert bin_index(-0.01) == 0
    assert bin_index(1.0000001) == 9


def test_a_nan_confidence_is_refused():
    with pytest.raises(ValueError, match="NaN"):
        bin_index(math.nan)


def test_the_histogram_is_the_share_of_confidences_per_bin():
    shares = confidence_histogram([0.05, 0.15, 0.15, 1.0])
    assert shares == [0.25, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25]


def test_the_histogram_of_no_confidences_is_all_zeros():
    assert confidence_histogram([]) == [0.0] * 10


def test_the_histogram_follows_the_given_edges():
    assert confidence_histogram([0.2, 0.7, 0.9], edges=[0.0, 0.5, 1.0]) == pytest.approx(
        [1 / 3, 2 / 3]
    )


def test_edges_that_do_not_ascend_are_refused():
    with pytest.raises(ValueError, match="ascending"):
        confidence_histogram([0.5], edges=[0.0, 0.5, 0.5, 1.0])


def test_tag_shares_name_every_approved_tag_and_sum_to_one():
    shares = tag_shares(["mlops", "mlops", "other", "computer-vision"])
    assert list(shares) == list(APPROVED_TAGS)
    assert shares["mlops"] == 0.5 and shares["natural-language-processing"] == 0.0
    assert sum(shares.values()) == pytest.approx(1.0)


def test_tag_shares_of_no_answers_are_all_zeros():
    assert tag_shares([]) == dict.fromkeys(APPROVED_TAGS, 0.0)


def test_an_unapproved_tag_is_refused():
    with pytest.raises(ValueError, match="robotics"):
        tag_shares(["robotics"])


def test_the_artifact_carries_its_reference_from_out_of_fold_predictions(tiny_artifact):
    reference = tiny_artifact.metadata["reference"]
    ReferenceDistributions.model_validate(reference)
    assert reference["num_samples"] == len(synthetic.ROWS)
    assert reference["source"].startswith("out-of-fold")
    assert reference["confidence_edges"] == list(DEFAULT_EDGES)
    assert sum(reference["confidence_share"]) == pytest.approx(1.0)
    assert set(reference["tag_share"]) == set(APPROVED_TAGS)
    assert sum(reference["tag_share"].values()) == pytest.approx(1.0)


def test_without_calibration_folds_the_reference_is_the_validation_split(tmp_path: Path):
    config = synthetic.TINY_CONFIG.model_copy(update={"calibration_folds": 0})
    train(synthetic.dataset(), config, tmp_path / "artifact")
    metadata = load_artifact(tmp_path / "artifact").metadata
    assert metadata["reference"]["source"] == "validation split"
    assert metadata["reference"]["num_samples"] == metadata["num_validation"]
    assert sum(metadata["reference"]["confidence_share"]) == pytest.approx(1.0)

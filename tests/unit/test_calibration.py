import pytest

from training.calibrate import calibrate_threshold, precision_coverage_curve


def test_lowest_threshold_meeting_target_is_chosen():
    conf = [0.99, 0.9, 0.8, 0.7, 0.6, 0.5]
    correct = [True, True, True, True, False, False]
    sel = calibrate_threshold(conf, correct, target_precision=0.8)
    assert sel.threshold == 0.6
    assert sel.coverage == pytest.approx(5 / 6)
    assert sel.precision == pytest.approx(0.8)
    assert sel.met


def test_all_correct_keeps_everything():
    sel = calibrate_threshold([0.9, 0.4, 0.3], [True, True, True], 0.95)
    assert sel.threshold == 0.3 and sel.coverage == 1.0


def test_unreachable_target_sends_everything_to_review():
    sel = calibrate_threshold([0.9, 0.8], [False, False], 0.95)
    assert sel.threshold == 1.0 and not sel.met and sel.coverage == 0.0


def test_tied_confidences_are_kept_or_dropped_together():
    curve = precision_coverage_curve([0.5, 0.5, 0.9], [True, False, True])
    assert curve == [(0.9, pytest.approx(1 / 3), 1.0), (0.5, 1.0, pytest.approx(2 / 3))]


def test_empty_input_is_rejected():
    with pytest.raises(ValueError):
        calibrate_threshold([], [], 0.9)

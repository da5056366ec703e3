from pathlib import Path

import pytest

from inference.classifier import Classifier
from tests.support import synthetic
from training.config import TrainConfig
from training.data import Example
from training.fit import fit, training_lines


def test_training_twice_gives_byte_identical_models(tmp_path: Path):
    examples = synthetic.examples()
    for name in ("a.bin", "b.bin"):
        fit(examples, synthetic.TINY_MEMBER, augment=True).save_model(str(tmp_path / name))
    assert (tmp_path / "a.bin").read_bytes() == (tmp_path / "b.bin").read_bytes()


def test_augmentation_adds_title_only_and_description_only_lines():
    example = Example("1", "2020", "The YOLO detector", "Boxes in images.", "computer-vision")
    lines = sorted(training_lines([example], augment=True))
    assert lines == sorted(
        [
            "__label__computer-vision yolo detector yolo detector boxes images",
            "__label__computer-vision yolo detector",
            "__label__computer-vision boxes images",
        ]
    )


def test_without_augmentation_there_is_one_line_per_example():
    example = Example("1", "2020", "T", "D", "other")
    assert training_lines([example], augment=False) == ["__label__other t t d"]


def test_default_config_is_a_char_and_word_ngram_ensemble():
    members = TrainConfig().models
    assert [(m.minn, m.maxn) for m in members] == [(3, 5), (0, 0)]


def test_ensemble_averages_member_probabilities(tiny_artifact):
    both = tiny_artifact.classifier
    members = [Classifier([m], both.description_weight) for m in both.fasttext_models]
    pair = ("object detection", "boxes in images")
    _, _, averaged = both.predict_normalised([pair])[0]
    singles = [c.predict_normalised([pair])[0][2] for c in members]
    for tag, p in averaged.items():
        assert p == pytest.approx(sum(s[tag] for s in singles) / 2, abs=1e-5)


def test_prediction_blends_the_full_view_with_the_description_view(tiny_artifact):
    models = tiny_artifact.classifier.fasttext_models
    full_only, blended = Classifier(models, 0.0), Classifier(models, 0.5)
    title, description = "object detection", "boxes in images"
    full = full_only.predict_normalised([(title, description)])[0][2]
    alone = full_only.predict_normalised([("", description)])[0][2]
    # ("", description)'s full view is the description alone.
    got = blended.predict_normalised([(title, description)])[0][2]
    for tag in got:
        assert got[tag] == pytest.approx((full[tag] + 0.5 * alone[tag]) / 1.5, abs=1e-5)


def test_an_event_without_description_is_scored_on_its_full_view_only(tiny_artifact):
    models = tiny_artifact.classifier.fasttext_models
    pair = ("object detection with yolo", "")
    [(tag, _, blended)] = Classifier(models, 0.5).predict_normalised([pair])
    [(full_tag, _, full)] = Classifier(models, 0.0).predict_normalised([pair])
    assert tag == full_tag
    assert blended == pytest.approx(full)


def test_one_calibration_fold_is_refused():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="calibration_folds"):
        TrainConfig(calibration_folds=1)


def test_an_infinite_view_weight_is_refused():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="description_view_weight"):
        TrainConfig(description_view_weight=float("inf"))

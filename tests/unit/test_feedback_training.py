"""Labels from feedback back into training (`train --feedback`), and the review-loop experiment
(`simulate-review`), on the synthetic rows."""

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from inference.artifact import load_artifact
from tests.support import synthetic
from training.cli import main
from training.config import TrainConfig
from training.data import DataValidationError, Example, csv_bytes, merge, parse, parse_feedback
from training.simulate import markdown, simulate_once, simulate_review

NLP, CV, MLOPS, OTHER = synthetic.NLP, synthetic.CV, synthetic.MLOPS, synthetic.OTHER


def example(id: str, tag: str, title: str | None = None, description: str = "") -> Example:
    return Example(id, "2026-03-01 12:00:00", title or id, description, tag)


def feedback_rows() -> list[Example]:
    """A relabel of a data set row by id, a new id with a data set row's text, and a new row."""
    rows = synthetic.examples()
    same_text = next(e for e in rows if e.tag == CV)
    return [
        Example(rows[0].id, rows[0].created_on, rows[0].title, rows[0].description, OTHER),
        Example("fb-1", "2026-03-01 12:00:00", same_text.title, same_text.description, MLOPS),
        Example("fb-2", "2026-03-01 12:00:00", "Lidar point clouds", "3D detection", CV),
    ]


# --- the labels file and the merge ------------------------------------------------------------


def test_a_labels_file_may_be_small_or_empty_but_its_rows_are_checked_like_the_data_sets():
    assert len(parse_feedback(csv_bytes(feedback_rows()[:1])).examples) == 1
    assert parse_feedback(csv_bytes([])).examples == []
    with pytest.raises(DataValidationError, match="at least 2 rows"):
        parse(csv_bytes(feedback_rows()[:1]))
    duplicate = [example("x", CV), example("x", NLP, title="other text")]
    with pytest.raises(DataValidationError, match="duplicate id 'x'"):
        parse_feedback(csv_bytes(duplicate))
    with pytest.raises(DataValidationError, match="unapproved tag 'robotics'"):
        parse_feedback(csv_bytes([example("y", "robotics")]))


def test_feedback_rows_replace_data_set_rows_of_the_same_id_or_text():
    dataset, rows = synthetic.dataset(), feedback_rows()
    merged = merge(dataset, parse_feedback(csv_bytes(rows)))
    assert merged.replaced == 2
    assert len(merged.dataset.examples) == len(dataset.examples) + 1
    by_id = {e.id: e.tag for e in merged.dataset.examples}
    assert by_id[rows[0].id] == OTHER and by_id["fb-1"] == MLOPS and by_id["fb-2"] == CV
    texts = [(e.title, e.description) for e in merged.dataset.examples]
    assert len(set(texts)) == len(texts)
    assert (merged.dataset.source, merged.dataset.sha256) == (dataset.source, dataset.sha256)


def test_the_data_set_with_feedback_must_still_hold_every_tag():
    dataset = parse(
        csv_bytes([example(f"{tag}-{i}", tag) for tag in (NLP, CV, MLOPS, OTHER) for i in range(2)])
    )
    relabel = [
        Example(e.id, e.created_on, e.title, e.description, NLP)
        for e in dataset.examples
        if e.tag == OTHER
    ]
    with pytest.raises(DataValidationError, match=r"too few: .*'other': 0"):
        merge(dataset, parse_feedback(csv_bytes(relabel)))


# --- train --feedback -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(synthetic.write_csv(tmp_path_factory.mktemp("data") / "synthetic.csv"))


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("config") / "tiny.json"
    synthetic.TINY_CONFIG.write(path)
    return str(path)


def test_train_with_feedback_counts_the_feedback_rows_in_the_metadata(
    data_csv: str, tiny_config: str, tmp_path: Path, capsys
):
    labels = tmp_path / "labels.csv"
    labels.write_bytes(csv_bytes(feedback_rows()))
    out = tmp_path / "model"
    argv = ["train", "--data", data_csv, "--feedback", str(labels), "--config", tiny_config]
    assert main([*argv, "--out", str(out)]) == 0
    expected = {
        "rows": 3,
        "labels": {CV: 1, MLOPS: 1, OTHER: 1},
        "sha256": hashlib.sha256(labels.read_bytes()).hexdigest(),
        "source": str(labels),
        "replaced": 2,
    }
    assert json.loads(capsys.readouterr().out)["feedback"] == expected
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["feedback"] == expected
    assert meta["num_train"] + meta["num_validation"] == len(synthetic.ROWS) - 2 + 3
    artifact = load_artifact(out)
    assert artifact.meta.feedback is not None and artifact.meta.feedback.rows == 3


def test_an_artifact_trained_without_feedback_says_nothing_about_it(tiny_model_dir: Path):
    assert "feedback" not in json.loads((tiny_model_dir / "metadata.json").read_text())
    assert load_artifact(tiny_model_dir).meta.feedback is None


def test_train_refuses_a_feedback_file_with_bad_rows(data_csv: str, tmp_path: Path, capsys):
    labels = tmp_path / "labels.csv"
    labels.write_text("id,created_on,title,description,tag\n1,2020,T,D,robotics\n")
    argv = ["train", "--data", data_csv, "--feedback", str(labels), "--out", str(tmp_path / "m")]
    assert main(argv) == 2
    assert "unapproved tag 'robotics' in rows 1" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


# --- simulate-review --------------------------------------------------------------------------


def _hard(title: str) -> bool:
    """The items the fake model is unsure of: a fixed third of them."""
    return len(title) % 3 == 0


class Memoriser:
    """A fake model: certain and right about what it was trained on, right and fairly sure of
    easy items, unsure and answering `other` on hard ones."""

    def __init__(self, examples: Sequence[Example]) -> None:
        self.trained_on = list(examples)
        self._known = {(e.title, e.description): e.tag for e in examples}
        self._truth = {(e.title, e.description): e.tag for e in synthetic.examples()}

    def predict_many(self, pairs: Sequence[tuple[str, str]]) -> list:
        out = []
        for pair in pairs:
            if pair in self._known:
                out.append((self._known[pair], 1.0, {}))
            elif _hard(pair[0]):
                out.append((OTHER, 0.2, {}))
            else:
                out.append((self._truth[pair], 0.9, {}))
        return out


class Recorder:
    def __init__(self) -> None:
        self.fits: list[Memoriser] = []

    def fit(self, examples: Sequence[Example], config: TrainConfig) -> Memoriser:
        self.fits.append(Memoriser(examples))
        return self.fits[-1]


def sure_and_right(examples: Sequence[Example], config: TrainConfig, folds: int, seed: int):
    """Out-of-fold predictions that calibrate the threshold to 0.9."""
    return [(e.tag, 0.9, {}) for e in examples]


def test_reviewers_label_exactly_what_the_model_routes_to_review():
    recorder = Recorder()
    run = simulate_once(
        synthetic.examples(),
        synthetic.TINY_CONFIG,
        seed=3,
        random_repeats=2,
        fit=recorder.fit,
        calibrate_on=sure_and_right,
    )
    initial, reviewed, random_a, random_b, whole = (set(f.trained_on) for f in recorder.fits)
    pool = whole - initial
    assert run["rows"] == {"held_out": 10, "initial": 19, "pool": 19}
    assert len(pool) == 19 and initial < reviewed and initial < random_a
    routed = {e for e in pool if _hard(e.title)}
    assert reviewed - initial == routed and run["routed_to_review"] == len(routed) > 0
    assert len(random_a - initial) == len(random_b - initial) == len(routed)
    assert random_a - initial <= pool and random_a != random_b
    assert run["threshold"] == 0.9 and run["threshold_met"]
    corrected = sum(e.tag != OTHER for e in routed)
    assert run["reviewer_decisions"] == {"confirm": len(routed) - corrected, "correct": corrected}
    assert run["auto_tagged"] == 19 - len(routed) == run["auto_tagged_correct"]
    f1 = run["weighted_f1"]
    assert 0 < f1["initial"] < 1 and f1["initial_plus_random"] == pytest.approx(
        sum(f1["initial_plus_random_per_seed"].values()) / 2
    )


def test_the_experiment_is_reproducible_and_summarised_split_by_split():
    def run(seed: int) -> dict:
        report = simulate_review(
            synthetic.examples(),
            synthetic.TINY_CONFIG,
            seed=seed,
            repeats=2,
            random_repeats=1,
            fit=Recorder().fit,
            calibrate_on=sure_and_right,
        )
        report.pop("seconds")
        return report

    report = run(7)
    assert report == run(7)
    assert report["seeds"] == [7, 8] and [r["seed"] for r in report["runs"]] == [7, 8]
    gains = [
        r["weighted_f1"]["initial_plus_reviewed"] - r["weighted_f1"]["initial_plus_random"]
        for r in report["runs"]
    ]
    assert report["reviewed_minus_random"]["mean"] == pytest.approx(sum(gains) / 2)
    assert report["reviewed_minus_random"]["splits"] == 2
    table = markdown(report)
    assert table.startswith("| Trained on | Labelled pool items | Weighted F1 on held-out")
    assert "| initial + the items routed to review |" in table
    assert "calibrated out of fold with 2 folds" in table


def test_simulate_review_trains_real_models_and_writes_its_report(
    data_csv: str, tiny_config: str, tmp_path: Path, capsys
):
    out = tmp_path / "report.json"
    argv = ["simulate-review", "--data", data_csv, "--config", tiny_config, "--seed", "1"]
    argv += ["--repeats", "1", "--random-repeats", "1", "--out", str(out)]
    assert main(argv) == 0
    table = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["data"] == data_csv and report["calibration_folds"] == 2
    assert report["rows"] == {"total": 48, "held_out": 10, "initial": 19, "pool": 19}
    for arm in ("initial", "initial_plus_reviewed", "initial_plus_random"):
        assert 0.0 <= report["weighted_f1"][arm]["mean"] <= 1.0
    assert f"{report['weighted_f1']['initial']['mean']:.3f} ± 0.000" in table

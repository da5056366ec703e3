"""Answers built in C read as the probabilities do: top label, its probability, all of them."""

import numpy as np
import pytest

from inference.answers import answers

LABELS = ("natural-language-processing", "computer-vision", "mlops", "other")


def test_each_row_answers_its_top_label_its_probability_and_every_label():
    rows = np.array([[0.1, 0.7, 0.2, 0.05], [0.9, 0.01, 0.3, 0.2]], np.float32)
    got = answers(rows, LABELS)
    assert [(tag, confidence) for tag, confidence, _ in got] == [
        ("computer-vision", float(rows[0, 1])),
        ("natural-language-processing", float(rows[1, 0])),
    ]
    assert got[1][2] == dict(zip(LABELS, rows[1].tolist(), strict=True))


def test_a_tie_goes_to_the_first_label_as_argmax_does():
    rows = np.array([[0.2, 0.4, 0.4, 0.1]], np.float32)
    assert answers(rows, LABELS)[0][0] == LABELS[int(rows.argmax())]


def test_random_rows_answer_as_numpy_reads_them():
    rows = np.random.default_rng(0).random((500, 4), dtype=np.float32)
    got = answers(rows, LABELS)
    assert [LABELS.index(tag) for tag, _, _ in got] == rows.argmax(axis=1).tolist()
    assert [list(p.values()) for _, _, p in got] == rows.tolist()


def test_no_rows_no_answers():
    assert answers(np.zeros((0, 4), np.float32), LABELS) == []


def test_labels_that_do_not_match_the_columns_are_refused():
    with pytest.raises(ValueError, match="3 labels"):
        answers(np.zeros((1, 4), np.float32), LABELS[:3])

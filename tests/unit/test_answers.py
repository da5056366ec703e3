"""Answers built in C read as the probabilities do: top label, its probability, all of them."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from inference.answers import answers
from inference.predictor import Answers

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


# ------------------------------------------------------------------- Answers: a batch as a matrix

rows_of_probabilities = arrays(
    np.float32,
    st.tuples(st.integers(0, 8), st.just(4)),
    elements=st.sampled_from([0.0, 1e-5, 0.25, 0.5, 0.75, 1.0]) | st.floats(0, 1, width=32),
)


@given(rows_of_probabilities)
def test_a_batch_kept_as_a_matrix_reads_as_the_answers_built_from_it(rows):
    kept = Answers(rows, LABELS)
    built = answers(rows, LABELS)
    assert len(kept) == len(built) and list(kept) == built and kept == built
    assert [kept[i] for i in range(len(kept))] == built


@given(rows_of_probabilities)
def test_top_and_confidences_are_each_answers_tag_and_confidence(rows):
    kept = Answers(rows, LABELS)
    assert [LABELS[c] for c in kept.top()] == [tag for tag, _, _ in answers(rows, LABELS)]
    assert kept.confidences().tolist() == [c for _, c, _ in answers(rows, LABELS)]


def test_top_reads_a_row_with_not_a_number_as_the_answers_do():
    rows = np.array([[np.nan, 0.5, 0.2, 0.1], [0.1, np.nan, 0.9, 0.2]], np.float32)
    assert [LABELS[c] for c in Answers(rows, LABELS).top()] == [
        tag for tag, _, _ in answers(rows, LABELS)
    ]


def test_taking_rows_keeps_their_answers_in_order():
    rows = np.random.default_rng(1).random((6, 4), dtype=np.float32)
    kept = Answers(rows, LABELS)
    assert kept.take(np.array([4, 1])) == [kept[4], kept[1]]
    assert kept.take(np.array([True, False] * 3)) == [kept[0], kept[2], kept[4]]


def test_a_batch_kept_as_a_matrix_cannot_be_changed_under_its_answers():
    kept = Answers(np.zeros((1, 4), np.float32), LABELS)
    with pytest.raises(ValueError):
        kept.probabilities[0, 0] = 1.0


def test_a_matrix_whose_columns_are_not_the_labels_is_refused():
    with pytest.raises(ValueError, match="3 labels"):
        Answers(np.zeros((2, 4), np.float32), LABELS[:3])

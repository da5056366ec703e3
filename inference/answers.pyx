# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""A batch's answers, built in C: every event needs a tuple and a probabilities dict, and building
them in Python costs more than the model's arithmetic (docs/performance.md has the measured gain)."""

from cpython.dict cimport PyDict_SetItem


def answers(const float[:, ::1] probabilities, tuple labels) -> list:
    """Per row: (top label, its probability, {label: probability}), the first label on ties, as
    NumPy's argmax."""
    cdef Py_ssize_t rows = probabilities.shape[0], width = probabilities.shape[1], i, j, best
    if len(labels) != width:
        raise ValueError(f"{width} probabilities per row, {len(labels)} labels")
    out = [None] * rows
    for i in range(rows):
        row = {}
        best = 0
        for j in range(width):
            PyDict_SetItem(row, labels[j], <double>probabilities[i, j])
            if probabilities[i, j] > probabilities[i, best]:
                best = j
        out[i] = (labels[best], row[labels[best]], row)
    return out


def top_columns(const float[:, ::1] probabilities) -> list:
    """Per row, the column `answers` names its top label: the first of the largest."""
    cdef Py_ssize_t rows = probabilities.shape[0], width = probabilities.shape[1], i, j, best
    out = [0] * rows
    for i in range(rows):
        best = 0
        for j in range(width):
            if probabilities[i, j] > probabilities[i, best]:
                best = j
        out[i] = best
    return out

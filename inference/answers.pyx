# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""A batch's answers, built in C: every event needs a tuple and a probabilities dict, and building
them in Python costs more than the model's arithmetic (docs/performance.md has the measured gain)."""

from cpython.dict cimport PyDict_SetItem


cdef inline Py_ssize_t _top(const float[:, ::1] probabilities, Py_ssize_t i) noexcept nogil:
    """Row i's tag column: the first of its largest probabilities, as NumPy's argmax."""
    cdef Py_ssize_t j, best = 0
    for j in range(1, probabilities.shape[1]):
        if probabilities[i, j] > probabilities[i, best]:
            best = j
    return best


def answers(const float[:, ::1] probabilities, tuple labels) -> list:
    """Per row: (top label, its probability, {label: probability}), the top label `_top`'s."""
    cdef Py_ssize_t rows = probabilities.shape[0], width = probabilities.shape[1], i, j, best
    if len(labels) != width:
        raise ValueError(f"{width} probabilities per row, {len(labels)} labels")
    out = [None] * rows
    for i in range(rows):
        row = {}
        for j in range(width):
            PyDict_SetItem(row, labels[j], <double>probabilities[i, j])
        best = _top(probabilities, i)
        out[i] = (labels[best], row[labels[best]], row)
    return out


def top_columns(const float[:, ::1] probabilities) -> list:
    """Per row, the column `answers` names its top label (`_top`)."""
    cdef Py_ssize_t i
    return [_top(probabilities, i) for i in range(probabilities.shape[0])]

# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# distutils: language = c++
"""Per line, the sum of its tokens' table rows and of its word n-gram bucket rows, in one C pass.

In NumPy this takes a hash, a modulo and a mask array per n-gram order and a sparse product per
table, each a pass over every token of the batch with its own temporary array; here each line is
read once and its rows are added as they are found, which also touches memory fewer times when
other work has evicted the model from the caches.
"""

from libc.stdint cimport int64_t, uint64_t

# fastText's word n-gram hash step (src/dictionary.cc, addWordNgrams).
cdef uint64_t _NGRAM_MULTIPLIER = 116049371


def add_line_sums(
    const Py_ssize_t[::1] ids,
    const Py_ssize_t[::1] lengths,
    const float[:, ::1] table,
    const int64_t[::1] hashes,
    list groups,
    float[:, ::1] out,
) -> None:
    """Add to `out[i]` the rows of line i: lines are `ids` back to back (`lengths[i]` tokens each).

    Each token adds its whole `table` row (its scores and row counts). `groups` are tuples
    (bucket, word_ngrams, matrix, columns, count_columns): every n-gram of 2..word_ngrams tokens
    inside a line adds its bucket row of `matrix` (fastText's hash of the tokens' `hashes`, modulo
    `bucket`) to `columns`, and 1 to each of `count_columns`. Every index is checked before
    anything is read: the loops run without bounds checks.
    """
    cdef Py_ssize_t width = table.shape[1], rows = table.shape[0], lines = lengths.shape[0]
    cdef Py_ssize_t line, start, end, i, j, c, row, total = 0
    cdef uint64_t h, bucket
    cdef Py_ssize_t order
    cdef const float[:, ::1] matrix
    cdef const Py_ssize_t[::1] columns
    cdef const Py_ssize_t[::1] count_columns
    if out.shape[0] != lines or out.shape[1] != width:
        raise ValueError("out must be (lines, table width)")
    if hashes.shape[0] < rows:
        raise ValueError("every table row needs its hash")
    for line in range(lines):
        if lengths[line] < 0 or lengths[line] > ids.shape[0] - total:
            raise ValueError(f"lengths add up to more than the {ids.shape[0]} ids given")
        total += lengths[line]
    if total != ids.shape[0]:
        raise ValueError(f"lengths add up to {total} tokens, not the {ids.shape[0]} ids given")
    for bucket, order, matrix, columns, count_columns in groups:
        if bucket < 1 or <uint64_t>matrix.shape[0] < bucket or matrix.shape[1] != columns.shape[0]:
            raise ValueError("a group's matrix needs `bucket` rows and a column per `columns`")
        for c in range(columns.shape[0]):
            if not 0 <= columns[c] < width:
                raise ValueError(f"column {columns[c]} is outside `out`")
        for c in range(count_columns.shape[0]):
            if not 0 <= count_columns[c] < width:
                raise ValueError(f"count column {count_columns[c]} is outside `out`")
    for i in range(total):
        if ids[i] < 0 or ids[i] >= rows:
            raise ValueError(f"id {ids[i]} is not a table row")
    start = 0
    for line in range(lines):
        end = start + lengths[line]
        for i in range(start, end):
            for c in range(width):
                out[line, c] += table[ids[i], c]
        start = end
    for bucket, order, matrix, columns, count_columns in groups:
        start = 0
        for line in range(lines):
            end = start + lengths[line]
            for i in range(start, end - 1):
                h = <uint64_t>hashes[ids[i]]
                for j in range(i + 1, min(end, i + order)):
                    h = h * _NGRAM_MULTIPLIER + <uint64_t>hashes[ids[j]]
                    row = <Py_ssize_t>(h % bucket)
                    for c in range(columns.shape[0]):
                        out[line, columns[c]] += matrix[row, c]
                    for c in range(count_columns.shape[0]):
                        out[line, count_columns[c]] += 1
            start = end

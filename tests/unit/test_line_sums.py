"""The C line sums add exactly the rows fastText's hashing names, and refuse ids that would read
outside the table (it runs without bounds checks)."""

import numpy as np
import pytest

from inference.batch_predict import fasttext_hash
from inference.line_sums import add_line_sums

MULTIPLIER = 116049371


def reference(ids, lengths, table, hashes, groups):
    """The sums spelled out in Python, fastText's addWordNgrams loop included."""
    out = np.zeros((len(lengths), table.shape[1]), np.float64)
    start = 0
    for line, length in enumerate(lengths):
        tokens = ids[start : start + length]
        for t in tokens:
            out[line] += table[t]
        for bucket, order, matrix, columns, count_columns in groups:
            for i in range(len(tokens)):
                h = int(hashes[tokens[i]]) % 2**64
                for j in range(i + 1, min(len(tokens), i + order)):
                    h = (h * MULTIPLIER + int(hashes[tokens[j]]) % 2**64) % 2**64
                    out[line, columns] += matrix[h % bucket]
                    out[line, count_columns] += 1
        start += length
    return out


@pytest.fixture
def model():
    rng = np.random.default_rng(0)
    table = rng.normal(size=(50, 6)).astype(np.float32)
    hashes = np.array([fasttext_hash(f"w{i}é") for i in range(50)], np.int64)
    groups = [
        (97, 2, rng.normal(size=(97, 2)).astype(np.float32), np.array([0, 1]), np.array([4])),
        (31, 3, rng.normal(size=(31, 2)).astype(np.float32), np.array([2, 3]), np.array([5])),
    ]
    return table, hashes, groups


def test_sums_match_fasttexts_ngram_hashing(model):
    table, hashes, groups = model
    rng = np.random.default_rng(1)
    lengths = np.array([0, 1, 2, 3, 7, 12], np.intp)
    ids = rng.integers(0, len(table), lengths.sum()).astype(np.intp)
    out = np.zeros((len(lengths), table.shape[1]), np.float32)
    add_line_sums(ids, lengths, table, hashes, groups, out)
    np.testing.assert_allclose(out, reference(ids, lengths, table, hashes, groups), atol=1e-5)


def test_sums_are_added_to_what_out_holds(model):
    table, hashes, _ = model
    out = np.ones((1, table.shape[1]), np.float32)
    add_line_sums(np.array([3], np.intp), np.array([1], np.intp), table, hashes, [], out)
    np.testing.assert_allclose(out[0], table[3] + 1)


@pytest.mark.parametrize("bad", [-1, 50])
def test_an_id_outside_the_table_is_refused(model, bad):
    table, hashes, groups = model
    out = np.zeros((1, table.shape[1]), np.float32)
    ids, lengths = np.array([0, bad], np.intp), np.array([2], np.intp)
    with pytest.raises(ValueError, match="not a table row"):
        add_line_sums(ids, lengths, table, hashes, groups, out)


def test_lengths_that_do_not_add_up_to_the_ids_are_refused(model):
    table, hashes, groups = model
    out = np.zeros((2, table.shape[1]), np.float32)
    with pytest.raises(ValueError, match="add up"):
        add_line_sums(np.arange(3, dtype=np.intp), np.array([2, 2]), table, hashes, groups, out)


def test_lengths_that_overflow_when_added_are_refused(model):
    table, hashes, groups = model
    out = np.zeros((3, table.shape[1]), np.float32)
    lengths = np.array([2**62, 2**62, 2**62], np.intp)
    with pytest.raises(ValueError, match="add up"):
        add_line_sums(np.arange(0, dtype=np.intp), lengths, table, hashes, groups, out)


@pytest.mark.parametrize(
    "broken",
    [
        lambda g: (g[0], g[1], g[2][:10], g[3], g[4]),  # fewer matrix rows than buckets
        lambda g: (g[0], g[1], g[2], np.array([0]), g[4]),  # a column short
        lambda g: (g[0], g[1], g[2], np.array([0, 6]), g[4]),  # a column outside `out`
        lambda g: (g[0], g[1], g[2], g[3], np.array([-1])),  # a count column outside `out`
    ],
)
def test_a_group_that_would_read_or_write_outside_its_arrays_is_refused(model, broken):
    table, hashes, groups = model
    out = np.zeros((1, table.shape[1]), np.float32)
    ids, lengths = np.array([1, 2], np.intp), np.array([2], np.intp)
    with pytest.raises(ValueError):
        add_line_sums(ids, lengths, table, hashes, [broken(groups[0])], out)

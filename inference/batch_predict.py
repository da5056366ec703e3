"""fastText inference for a whole batch in a few array operations, with fastText's numbers.

fastText's Python binding answers one line per call, and its multi-line call loops over the same
per-line C++ (string streams, a std::string per token, Python tuples per label) for every member.
A supervised fastText model is a bag of rows, though: the hidden
vector is the mean of the input-matrix rows of a line's tokens (a word's own row plus its character
n-gram rows) and of its word n-gram buckets; the probabilities are a sigmoid or softmax of the
output matrix times that vector. That product is linear, so each row can be multiplied by the output
matrix first: each distinct token's rows are summed and projected once (fastText itself names the
rows) and cached, as are the bucket rows, one score per label instead of `dim` numbers. A batch then
costs one hash-table lookup per token (`inference.token_index`), one pass over its lines adding
their rows (`inference.line_sums`, both in C) and a fixed number of array operations, whatever its
size. The arithmetic is fastText's (its sigmoid lookup table, its +1e-5, float32 sums), but
projecting and adding a token's rows before the line's changes the order of float32 operations:
equal to rounding, except that a score landing on an edge of the sigmoid table's bins (1/32 wide)
can pick the neighbouring bin, up to 0.008 in that probability. The test over every data-set row
holds the two paths to 1e-6 on almost every line and one bin step on all.

Not thread-safe (the token cache grows in place): each consumer process owns its classifier.
"""

from collections.abc import Iterable, Sequence
from itertools import chain, repeat
from typing import Any, NamedTuple

import numpy as np
from scipy import sparse

from inference.line_sums import add_line_sums
from inference.predictor import fasttext_probabilities
from inference.token_index import TokenIndex

EOS = "</s>"
_EOS_LINE = (EOS,)
# fastText's one-vs-all sigmoid table (src/loss.cc).
_SIGMOID_TABLE_SIZE = 512
_MAX_SIGMOID = 8
_SIGMOID_X = np.arange(_SIGMOID_TABLE_SIZE + 1, dtype=np.float32) * np.float32(
    2 * _MAX_SIGMOID
) / np.float32(_SIGMOID_TABLE_SIZE) - np.float32(_MAX_SIGMOID)
# As fastText builds it: x and exp(-x) in float, the division in double, stored as float.
_SIGMOID_TABLE = (1.0 / (1.0 + np.exp(-_SIGMOID_X).astype(np.float64))).astype(np.float32)
# The table shifted by one, with fastText's cut-offs at both ends (0 under -8, 1 over 8) and its
# +1e-5 added: one gather per probability.
_SIGMOID_LOOKUP = np.concatenate([[0.0], _SIGMOID_TABLE, [1.0]]).astype(np.float32) + np.float32(
    1e-5
)
_SUPPORTED_LOSSES = ("ova", "ns", "softmax")
_SKIPPED, _MISSING = -1, -2


def fasttext_hash(token: str) -> int:
    """fastText's FNV-1a over UTF-8 bytes, bytes sign-extended as C `char`, as a signed int32."""
    h = 2166136261
    for byte in token.encode("utf-8"):
        h = ((h ^ (byte if byte < 0x80 else byte | 0xFFFFFF00)) * 16777619) & 0xFFFFFFFF
    return h - (1 << 32) if h >= (1 << 31) else h


def _row_sums(rows: np.ndarray, per_line: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Per line, the sum of `matrix` rows `rows` (`per_line[i]` consecutive ones for line i).

    One sparse (lines x rows) indicator product: a single C loop gathering and adding, rather than a
    NumPy gather followed by `add.reduceat` (two passes and a temporary).
    """
    indptr = np.zeros(len(per_line) + 1, np.intp)
    np.cumsum(per_line, out=indptr[1:])
    ones = np.ones(len(rows), matrix.dtype)
    return sparse.csr_array((ones, rows, indptr), shape=(len(per_line), len(matrix))) @ matrix


def _probabilities(loss: str, scores: np.ndarray) -> np.ndarray:
    """fastText's probabilities, +1e-5, from output-layer scores (labels on the last axis)."""
    if loss == "softmax":
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        return scores / scores.sum(axis=-1, keepdims=True) + np.float32(1e-5)
    # fastText's table index (x + 8) * 512 / 8 / 2 is exactly (x + 8) * 32 in float32 (powers of
    # two); floor sends everything under -8 to -1, the clip keeps it and caps the top.
    index = np.floor((scores + np.float32(_MAX_SIGMOID)) * np.float32(32))
    np.clip(index, -1, _SIGMOID_TABLE_SIZE, out=index)
    shifted = index.astype(np.intp) + 1
    shifted[scores > _MAX_SIGMOID] = _SIGMOID_TABLE_SIZE + 2
    return _SIGMOID_LOOKUP[shifted]


class _Member:
    """One fastText model as matrices and the parameters its predict depends on."""

    def __init__(self, model: Any, labels: Sequence[str]) -> None:
        args = model.f.getArgs()
        self.loss = args.loss.name
        if self.loss not in _SUPPORTED_LOSSES:
            raise ValueError(
                f"batched inference supports losses {_SUPPORTED_LOSSES}, not {self.loss}"
            )
        if model.f.isQuant():
            raise ValueError("batched inference needs an unquantized model")
        self.model = model
        # A read-only view of fastText's own matrix (kept alive by `model`), not a copy.
        self.input = np.asarray(model.f.getInputMatrix(), dtype=np.float32)
        self.input.setflags(write=False)
        own_labels = list(model.get_labels())
        # Output rows reordered to the classifier's label order.
        output = np.array(model.f.getOutputMatrix(), dtype=np.float32)
        self.output_t = np.ascontiguousarray(output[[own_labels.index(x) for x in labels]].T)
        self.bucket = args.bucket
        self.nwords = self.input.shape[0] - args.bucket
        self.word_ngrams = args.wordNgrams
        self.has_subwords = args.maxn > 0

    def token_rows(self, token: str) -> list[int]:
        """Input rows fastText adds for this token (its word row, if any, and char n-grams)."""
        if token == EOS or not self.has_subwords:
            wid = self.model.f.getWordId(token)
            return [wid] if wid >= 0 else []
        return list(self.model.f.getSubwords(token, "strict")[1])


class _BucketGroup(NamedTuple):
    """Members with the same bucket count and word n-gram order, their projected bucket rows side by
    side in one matrix: one read per n-gram serves them all (each bucket row read is a cache
    miss). The fields are what `add_line_sums` takes."""

    bucket: int
    word_ngrams: int
    matrix: np.ndarray
    columns: np.ndarray  # the matrix's columns among the token table's scores
    count_columns: np.ndarray  # the members' row-count columns in the token table


def _bucket_groups(members: Sequence[_Member], nlabels: int) -> list[_BucketGroup]:
    grouped: dict[tuple[int, int], list[int]] = {}
    for k, member in enumerate(members):
        if member.word_ngrams > 1:
            grouped.setdefault((member.bucket, member.word_ngrams), []).append(k)
    count_column = len(members) * nlabels
    return [
        _BucketGroup(
            bucket,
            word_ngrams,
            np.hstack([members[k].input[members[k].nwords :] @ members[k].output_t for k in ks]),
            np.concatenate([np.arange(k * nlabels, (k + 1) * nlabels) for k in ks]),
            np.array([count_column + k for k in ks], np.intp),
        )
        for (bucket, word_ngrams), ks in grouped.items()
    ]


class BatchPredictor:
    """Averaged probabilities of several fastText models, a row per line, columns in `labels` order.

    A line is a list of tokens as `inference.text` makes them (never fastText's `</s>` or
    `__label__` markers); fastText's own end-of-line token is appended, as its predict does.
    `predict` sends batches under `min_batch` lines through fastText's own per-line predict: the
    array path has a fixed cost per call whatever its size (a few dozen NumPy calls), fastText a
    cost per line, so one event of two views is cheaper alone through fastText and two events
    through the array path (measured with `python -m bench.compare ... --measure one_event`).
    Callers that assemble lines themselves look a whole text's tokens up at once (`ids`:
    `skipped` tokens such as stopwords come back as -1, `line_end` as fastText's `</s>`) and pass
    id arrays to `predict_ids`, which is always the array path.
    """

    def __init__(
        self,
        models: Sequence[Any],
        labels: Sequence[str],
        *,
        skipped: Iterable[str] = (),
        line_end: str | None = None,
        max_cached_tokens: int = 200_000,
        min_batch: int = 4,
    ) -> None:
        self._members = [_Member(m, labels) for m in models]
        self._models = [m.model for m in self._members]
        self._labels = list(labels)
        self.min_batch = min_batch
        self._nlabels = len(labels)
        # Token table columns: each member's scores side by side, then each member's row count.
        self._count_column = len(self._members) * len(labels)
        self._max_cached = max_cached_tokens
        vocabulary = {EOS}
        for member in self._members:
            vocabulary.update(member.model.get_words())
        width = self._count_column + len(self._members)
        self._index = TokenIndex()
        self._rows = 0  # table rows in use
        self._table = np.zeros((0, width), np.float32)
        self._hashes = np.zeros(0, np.int64)
        self._add(sorted(vocabulary))
        self._groups = _bucket_groups(self._members, self._nlabels)
        by_loss: dict[str, list[int]] = {}
        for k, member in enumerate(self._members):
            by_loss.setdefault(member.loss, []).append(k)
        # Members per loss; one loss (the usual case) takes them all, as a view rather than a copy.
        self._losses = [
            (loss, ks if len(by_loss) > 1 else slice(None)) for loss, ks in by_loss.items()
        ]
        eos_id = self._index.get(EOS)
        if eos_id is None:  # cannot happen: the vocabulary added above holds EOS
            raise AssertionError(f"{EOS} is not in the token index")
        self.eos_id: int = eos_id
        self._index.update(zip(skipped, repeat(_SKIPPED)))
        if line_end is not None:
            self._index.update([(line_end, self.eos_id)])
        # The vocabulary and the markers stay when the cache is trimmed.
        self._pinned_ids, self._pinned_rows = len(self._index), self._rows

    @property
    def cached_tokens(self) -> int:
        """Tokens cached beyond the vocabulary: what `max_cached_tokens` bounds."""
        return self._rows - self._pinned_rows

    def _add(self, tokens: Sequence[str]) -> None:
        """Cache each token's summed input rows per member, projected to scores, its row counts and
        its hash.

        Everything is computed before anything is stored, so a failure leaves the cache as it was.
        """
        first = self._rows
        rows = np.zeros((len(tokens), self._table.shape[1]), np.float32)
        for k, member in enumerate(self._members):
            member_rows = [member.token_rows(t) for t in tokens]
            counts = np.fromiter(map(len, member_rows), np.intp, len(member_rows))
            flat = np.fromiter(chain.from_iterable(member_rows), np.intp)
            scores = _row_sums(flat, counts, member.input) @ member.output_t
            rows[:, k * self._nlabels : (k + 1) * self._nlabels] = scores
            rows[:, self._count_column + k] = counts
        hashes = np.array([fasttext_hash(t) for t in tokens], np.int64)
        need = first + len(tokens)
        if need > len(self._table):
            size = max(need, 2 * len(self._table), 1024)
            table = np.zeros((size, self._table.shape[1]), np.float32)
            table[:first] = self._table[:first]
            all_hashes = np.zeros(size, np.int64)
            all_hashes[:first] = self._hashes[:first]
            self._table, self._hashes = table, all_hashes
        self._table[first:need] = rows
        self._hashes[first:need] = hashes
        self._index.update(zip(tokens, range(first, need), strict=True))
        self._rows = need

    def ids(self, text: str | bytes) -> np.ndarray:
        """Table ids of the tokens of `text` (str or UTF-8, split on ASCII whitespace, which is all
        the whitespace normalised text holds; -1 for skipped ones), caching the rows of tokens
        never seen."""
        found, new = self._index.lookup(text, _MISSING)
        if new:
            if self.cached_tokens + len(new) > self._max_cached:
                # Trim to the pinned rows; they stay where they are, later rows get overwritten.
                self._index.truncate(self._pinned_ids)
                self._rows = self._pinned_rows
                found, new = self._index.lookup(text, _MISSING)
            first = self._rows
            self._add(new)
            unseen = found <= _MISSING
            found[unseen] = first + _MISSING - found[unseen]
        return found

    def predict(self, lines: Sequence[Sequence[str]]) -> np.ndarray:
        """Probabilities, shape (len(lines), len(labels)), float32."""
        if len(lines) < self.min_batch:
            return self.predict_each(lines)
        lengths = np.fromiter(map(len, lines), np.intp, len(lines)) + 1
        ids = self.ids(
            " ".join(chain.from_iterable(chain.from_iterable(zip(lines, repeat(_EOS_LINE)))))
        )
        if len(ids) != lengths.sum():
            raise ValueError("tokens must be non-empty and hold no ASCII whitespace")
        if len(ids) and ids.min() < 0:
            raise ValueError("lines hold skipped tokens, which only `ids` callers may pass")
        return self.predict_ids(ids, lengths)

    def predict_ids(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Probabilities of lines given back to back as table ids, each ending with `eos_id`
        (`lengths` count it). Always the array path, however few the lines."""
        sums = np.zeros((len(lengths), self._table.shape[1]), np.float32)
        add_line_sums(ids, lengths, self._table, self._hashes, self._groups, sums)
        scores, counts = sums[:, : self._count_column], sums[:, self._count_column :]
        # Per member, the mean over its rows: the sums scaled by 1 / count, as fastText scales.
        per_member = scores.reshape(len(lengths), len(self._members), self._nlabels)
        per_member *= (np.float32(1.0) / np.maximum(counts, 1))[:, :, None]
        total = np.zeros((len(lengths), self._nlabels), np.float32)
        for loss, members in self._losses:
            total += _probabilities(loss, per_member[:, members]).sum(axis=1)
        return self._average(total)

    def predict_each(self, lines: Sequence[Sequence[str]]) -> np.ndarray:
        """fastText's own per-line predict (see the class docstring for when it is cheaper)."""
        return fasttext_probabilities(self._models, self._labels, lines)

    def _average(self, total: np.ndarray) -> np.ndarray:
        """The members' summed probabilities averaged, capped at 1 (fastText adds 1e-5 to each).
        Probabilities are never negative, and the ufunc skips np.clip's Python-level overhead."""
        total *= np.float32(1.0 / len(self._members))
        return np.minimum(total, np.float32(1.0), out=total)

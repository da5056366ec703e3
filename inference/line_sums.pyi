"""Type stub for the compiled `inference/line_sums.pyx` (keep in step with its signatures)."""

from typing import TypeVar

import numpy as np
import numpy.typing as npt

# (bucket, word_ngrams, matrix, columns, count_columns); a bound rather than the tuple itself so
# that a list of a NamedTuple with these fields (invariant as lists are) is accepted too.
_Group = TypeVar(
    "_Group",
    bound=tuple[int, int, npt.NDArray[np.float32], npt.NDArray[np.intp], npt.NDArray[np.intp]],
)

def add_line_sums(
    ids: npt.NDArray[np.intp],
    lengths: npt.NDArray[np.intp],
    table: npt.NDArray[np.float32],
    hashes: npt.NDArray[np.int64],
    groups: list[_Group],
    out: npt.NDArray[np.float32],
) -> None: ...

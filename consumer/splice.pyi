"""Type stub for the compiled `consumer/splice.pyx` (keep in step with its signatures)."""

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

def classified_outputs(
    events_json: bytes,
    rows_json: bytes,
    probabilities: npt.NDArray[np.float32],
    top: list[int],
    labels: tuple[str, ...],
    labels_json: list[bytes],
    ids: list[str],
    threshold: float,
    tail: bytes,
    tagged_topics: tuple[str, str],
    make: Callable[[tuple[str, bytes, bytes, str, str]], Any],
) -> list[Any]: ...

"""Type stub for the compiled `inference/answers.pyx` (keep in step with its signatures)."""

from collections.abc import Hashable
from typing import TypeVar

import numpy as np
import numpy.typing as npt

_Label = TypeVar("_Label", bound=Hashable)

def answers(
    probabilities: npt.NDArray[np.float32], labels: tuple[_Label, ...]
) -> list[tuple[_Label, float, dict[_Label, float]]]: ...
def top_columns(probabilities: npt.NDArray[np.float32]) -> list[int]: ...

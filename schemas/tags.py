"""The approved tag set: the only labels a model may have and the only tags the service emits."""

from typing import Literal, get_args

Tag = Literal["natural-language-processing", "computer-vision", "mlops", "other"]
APPROVED_TAGS: tuple[str, ...] = get_args(Tag)

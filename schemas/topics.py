"""Default topic names: the consumer's settings, replay, benchmarks and tests all import these."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topics:
    input: str = "content.raw"
    tagged: str = "content.tagged"
    review: str = "content.review"
    duplicate: str = "content.duplicates"
    dead_letter: str = "content.dead-letter"

    def outputs(self) -> tuple[str, str, str, str]:
        return (self.tagged, self.review, self.duplicate, self.dead_letter)


DEFAULT_TOPICS = Topics()

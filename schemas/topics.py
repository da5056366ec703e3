"""Default topic names: the consumer's settings, replay, benchmarks and tests all import these."""

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True, slots=True)
class Topics:
    input: str = "content.raw"
    tagged: str = "content.tagged"
    review: str = "content.review"
    duplicate: str = "content.duplicates"
    dead_letter: str = "content.dead-letter"
    feedback: str = "content.feedback"
    """Reviewers' decisions and users' reports (schemas.feedback); the reviewer app writes it,
    training reads it. Not one of the service's outputs: the service neither writes nor needs it."""

    def outputs(self) -> tuple[str, str, str, str]:
        """The topics the service writes (and so requires at startup)."""
        return (self.tagged, self.review, self.duplicate, self.dead_letter)

    def prefixed(self, prefix: str, input: str | None = None) -> "Topics":
        """The same topic set under another prefix (`content.raw` → `<prefix>.raw`), for tests and
        benchmarks that need a fresh set; `input` keeps an existing input topic."""

        def rename(name: str) -> str:
            return prefix + name[name.index(".") :]

        renamed = Topics(**{name: rename(getattr(self, name)) for name in TOPIC_ROLES})
        return replace(renamed, input=input) if input else renamed


TOPIC_ROLES = tuple(f.name for f in fields(Topics))
"""The field names (input, tagged, ...): settings and environment variables derive from them."""
DEFAULT_TOPICS = Topics()

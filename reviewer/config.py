"""The app's settings, from environment variables (12-factor), with the service's names for the
shared ones (KAFKA_BOOTSTRAP_SERVERS, TOPIC_*, LOG_LEVEL, the KAFKA_SASL_* passthrough) so one
environment block configures both."""

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.topics import DEFAULT_TOPICS

MAX_NAME_CHARS = 256
"""A reviewer's name ends up in `FeedbackRecord.reviewer`, which allows this many characters."""


class TokenError(ValueError):
    """REVIEWER_TOKENS is not a list of `token:name` pairs."""


def parse_tokens(spec: str) -> dict[str, str]:
    """`"token:name,token:name"` → {token: name}.

    Split at the first colon, so a name may hold one; a token may not. Blank entries (a trailing
    comma) are ignored; a pair without a token or a name, or a token given twice, is an error
    rather than a silently ignored sign-in.
    """
    tokens: dict[str, str] = {}
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            continue
        token, sep, name = entry.partition(":")
        token, name = token.strip(), name.strip()
        if not sep or not token or not name:
            raise TokenError("REVIEWER_TOKENS: expected comma-separated `token:name` pairs")
        if len(name) > MAX_NAME_CHARS:
            raise TokenError(f"REVIEWER_TOKENS: a name is longer than {MAX_NAME_CHARS} characters")
        if token in tokens:
            raise TokenError("REVIEWER_TOKENS: a token is given twice")
        tokens[token] = name
    return tokens


class ReviewerSettings(BaseSettings):
    """Every knob of `python -m reviewer`; the field name in upper case is the variable."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    reviewer_host: str = "0.0.0.0"
    reviewer_port: int = Field(8088, ge=0, le=65535)
    reviewer_tokens: SecretStr = SecretStr("")
    reviewer_proxy_header: str | None = Field(
        None,
        description="Header an authenticating proxy sets to the user's name (X-Forwarded-User). "
        "Only behind such a proxy: anyone who reaches the app directly could set it.",
    )
    reviewer_secret_key: SecretStr | None = None
    reviewer_group_id: str = "content-tagger-reviewer"
    reviewer_lease_seconds: float = Field(300.0, gt=0)
    reviewer_max_held: int = Field(
        1000, gt=0, description="Review records held in memory before reading pauses."
    )
    reviewer_index_size: int = Field(
        100_000, gt=0, description="Tagged events remembered for reports (id → event)."
    )
    reviewer_write_timeout_seconds: float = Field(10.0, gt=0)
    reviewer_startup_timeout_seconds: float = Field(120.0, gt=0)
    reviewer_session_max_age_seconds: int = Field(12 * 3600, gt=0)
    reviewer_cookie_secure: bool = False
    kafka_bootstrap_servers: str = "localhost:9092"
    topic_review: str = DEFAULT_TOPICS.review
    topic_feedback: str = DEFAULT_TOPICS.feedback
    topic_tagged: str = DEFAULT_TOPICS.tagged
    log_level: str = "INFO"

    @field_validator("reviewer_tokens")
    @classmethod
    def _tokens_parse(cls, value: SecretStr) -> SecretStr:
        parse_tokens(value.get_secret_value())
        return value

    @field_validator("reviewer_proxy_header")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    def tokens(self) -> dict[str, str]:
        return parse_tokens(self.reviewer_tokens.get_secret_value())

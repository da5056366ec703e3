"""`python -m reviewer` / `tagger-reviewer`: the review app (settings from the environment)."""

import logging
import secrets
import sys

import uvicorn

from consumer import logs
from reviewer.auth import Authenticator
from reviewer.config import ReviewerSettings
from reviewer.runtime import Runtime
from reviewer.web import create_app

log = logging.getLogger("reviewer")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args:
        # No flags: every setting is an environment variable (see reviewer.config).
        print(f"{__doc__}\nSettings: environment variables, see reviewer/config.py.")
        return 0 if args in (["-h"], ["--help"]) else 2
    settings = ReviewerSettings()
    logs.configure(settings.log_level)
    auth = Authenticator(settings.tokens(), settings.reviewer_proxy_header)
    if not auth.configured:
        log.warning("neither REVIEWER_TOKENS nor REVIEWER_PROXY_HEADER is set: nobody can sign in")
    if settings.reviewer_proxy_header:
        log.warning(
            "REVIEWER_PROXY_HEADER is set: any request carrying it is signed in as its value; "
            "only run this behind an authenticating proxy that sets and strips it",
            extra={"header": settings.reviewer_proxy_header},
        )
    if settings.reviewer_secret_key is None:
        log.warning(
            "REVIEWER_SECRET_KEY is not set: sessions are signed with a random key and end when "
            "this process does"
        )
        secret_key = secrets.token_urlsafe(48)
    else:
        secret_key = settings.reviewer_secret_key.get_secret_value()
    runtime = Runtime(settings)
    app = create_app(
        runtime.service,
        auth,
        secret_key=secret_key,
        health=runtime.health,
        lifespan=runtime.lifespan,
        cookie_secure=settings.reviewer_cookie_secure,
        session_max_age=settings.reviewer_session_max_age_seconds,
    )
    log.info(
        "reviewer starting",
        extra={
            "host": settings.reviewer_host,
            "port": settings.reviewer_port,
            "review_topic": settings.topic_review,
            "feedback_topic": settings.topic_feedback,
            "group": settings.reviewer_group_id,
            "reviewers": len(settings.tokens()),
        },
    )
    uvicorn.run(
        app,
        host=settings.reviewer_host,
        port=settings.reviewer_port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

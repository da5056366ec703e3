"""Who is asking, and whether a browser's post is its own.

Three ways in, checked in this order:

1. `Authorization: Bearer <token>` (scripts, the platform's reports). A request that carries an
   Authorization header is judged by it alone: a wrong token is a 401 even with a good cookie, so
   a script never acts under someone else's session by accident.
2. The header an authenticating proxy sets (REVIEWER_PROXY_HEADER), when configured: the proxy
   has checked the user and strips the header from what clients send. Never configure it on an
   app reachable without that proxy.
3. The signed session cookie set by POST /login. It holds the reviewer's name and a fingerprint of
   the token used, checked on every request, so removing a token from REVIEWER_TOKENS signs its
   sessions out at once rather than when the cookie expires.

CSRF: every session gets a random token, rendered into the forms; any write that a browser can
make (one not authenticated by a Bearer token, which browsers never send on their own) must bring
it back, in the form field `csrf` or the `X-CSRF-Token` header.
"""

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request

from reviewer.config import MAX_NAME_CHARS
from reviewer.errors import CsrfFailed

Via = Literal["bearer", "proxy", "session"]


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    via: Via


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


class Authenticator:
    def __init__(self, tokens: Mapping[str, str], proxy_header: str | None = None) -> None:
        self._tokens = dict(tokens)
        self._fingerprints = {_fingerprint(t): name for t, name in self._tokens.items()}
        self.proxy_header = proxy_header

    @property
    def configured(self) -> bool:
        return bool(self._tokens) or self.proxy_header is not None

    def name_for(self, token: str) -> str | None:
        """The token's reviewer; every configured token is compared, in constant time each."""
        found = None
        given = token.encode()
        for candidate, name in self._tokens.items():
            if hmac.compare_digest(candidate.encode(), given):
                found = name
        return found

    def identify(self, request: Request) -> Principal | None:
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, value = header.partition(" ")
            name = self.name_for(value.strip()) if scheme.lower() == "bearer" else None
            return Principal(name, "bearer") if name else None
        if self.proxy_header:
            user = request.headers.get(self.proxy_header, "").strip()
            if user:
                return Principal(user[:MAX_NAME_CHARS], "proxy")
        session = request.session
        name, fingerprint = session.get("reviewer"), session.get("token_fp")
        if isinstance(name, str) and isinstance(fingerprint, str):
            current = self._fingerprints.get(fingerprint)
            if current is not None and current == name:
                return Principal(name, "session")
        return None

    def sign_in(self, request: Request, token: str) -> str | None:
        """Start a session for the token's reviewer (a fresh CSRF token with it)."""
        name = self.name_for(token.strip())
        if name is None:
            return None
        request.session.clear()
        request.session.update(
            {"reviewer": name, "token_fp": _fingerprint(token.strip()), "csrf": _new_csrf()}
        )
        return name


def _new_csrf() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(request: Request) -> str:
    """This session's CSRF token (created on first use, e.g. the login form)."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or not token:
        token = _new_csrf()
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, supplied: object) -> None:
    expected = request.session.get("csrf")
    if (
        not isinstance(expected, str)
        or not isinstance(supplied, str)
        or not expected
        or not hmac.compare_digest(expected.encode(), supplied.encode())
    ):
        raise CsrfFailed("missing or wrong CSRF token: reload the page and try again")

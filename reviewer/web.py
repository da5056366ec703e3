"""The HTTP side: server-rendered pages for reviewers, a JSON API for scripts and the platform,
/metrics and /healthz. Starlette, Jinja2 templates, signed-cookie sessions (itsdangerous); the only
script is a small inline keydown handler that clicks the page's own buttons, so every action also
works without it.

Handlers parse and authenticate, then call `ReviewService`, which does the work in a worker thread
(it blocks on the broker's acknowledgement). Every refusal is an `ApiError`: JSON
`{"error": {"code", "message"}}` for the API, a message on the page for forms.
"""

import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr, StringConstraints
from pydantic import ValidationError as PydanticValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates
from starlette.types import Message

from reviewer.auth import Authenticator, Principal, check_csrf, csrf_token
from reviewer.errors import ApiError, InvalidBody, MalformedBody, Unauthorized
from reviewer.queue import Item
from reviewer.service import ReviewService
from schemas.events import MAX_ID_CHARS
from schemas.feedback import MAX_COMMENT_CHARS, FeedbackRecord
from schemas.tags import APPROVED_TAGS

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
MAX_BODY_BYTES = 64 * 1024
"""A label or a report is a few hundred bytes; anything near this is no client of ours."""
SESSION_COOKIE = "reviewer_session"
KEYS = ("1", "2", "3", "4")

Health = Callable[[], tuple[bool, dict[str, Any]]]
Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]

EventIdIn = (
    Annotated[StrictStr, StringConstraints(min_length=1, max_length=MAX_ID_CHARS)] | StrictInt
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


B = TypeVar("B", bound=_Body)


class LabelIn(_Body):
    event_id: EventIdIn
    tag: StrictStr


class SkipIn(_Body):
    event_id: EventIdIn


class ReportIn(_Body):
    event_id: EventIdIn
    reported_tag: StrictStr | None = None
    comment: Annotated[StrictStr, StringConstraints(max_length=MAX_COMMENT_CHARS)] | None = None


def duration(seconds: float) -> str:
    """42 s, 3 min 12 s, 2 h 5 min, 3 d 4 h: how long an item has waited, for people."""
    s = max(int(seconds), 0)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def web_url(url: object) -> bool:
    """Whether the page may link to `url`: http(s) only, never javascript: or data: (the text of
    any other URL is shown, not linked)."""
    return isinstance(url, str) and url.lower().startswith(("http://", "https://"))


def item_json(item: Item, now: datetime) -> dict[str, Any]:
    lease = item.lease
    return {
        **item.event.as_json(),
        "reported": item.reported,
        "reports": [
            {
                "reporter": r.reporter,
                "reported_tag": r.reported_tag,
                "comment": r.comment,
                "at": r.at.isoformat(),
            }
            for r in item.reports
        ],
        "enqueued_at": item.enqueued_at.isoformat(),
        "waiting_seconds": round(max((now - item.enqueued_at).total_seconds(), 0.0), 3),
        "leased_to": lease.reviewer if lease else None,
        "shown_at": lease.shown_at.isoformat() if lease and lease.shown else None,
        "lease_expires_at": lease.expires_at.isoformat() if lease else None,
    }


def record_json(record: FeedbackRecord) -> dict[str, Any]:
    return record.model_dump(
        mode="json",
        include={
            "event_id",
            "action",
            "predicted_tag",
            "final_tag",
            "reviewer",
            "comment",
            "decided_at",
            "seconds_to_decide",
        },
    )


def error_response(error: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


async def read_json(request: Request) -> dict[str, Any]:
    size = 0
    chunks = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise InvalidBody(
                f"body larger than {MAX_BODY_BYTES} bytes", code="body_too_large", status=413
            )
        chunks.append(chunk)
    try:
        data = json.loads(b"".join(chunks))
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise MalformedBody(f"body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise MalformedBody("body must be a JSON object")
    return data


def parse(model: type[B], data: Mapping[str, Any]) -> B:
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidBody(problems) from exc


class ReviewerApp:
    """The routes, bound to one service and one authenticator."""

    def __init__(
        self, service: ReviewService, auth: Authenticator, health: Health | None = None
    ) -> None:
        self.service = service
        self.auth = auth
        self.health = health or (lambda: (True, {}))
        self.templates = Jinja2Templates(directory=str(TEMPLATES))
        self.templates.env.globals["duration"] = duration
        self.templates.env.globals["web_url"] = web_url

    # -- helpers -----------------------------------------------------------------------------

    def _principal(self, request: Request) -> Principal:
        principal = self.auth.identify(request)
        if principal is None:
            raise Unauthorized("sign in at /login, or send Authorization: Bearer <token>")
        return principal

    def _writer(self, request: Request, csrf: object) -> Principal:
        """The principal of a write; a browser's (not Bearer) must bring the CSRF token."""
        principal = self._principal(request)
        if principal.via != "bearer":
            check_csrf(request, csrf)
        return principal

    def _render(
        self, request: Request, name: str, context: dict[str, Any], status: int = 200
    ) -> Response:
        nonce = secrets.token_urlsafe(16)
        response = self.templates.TemplateResponse(
            request,
            name,
            {**context, "csrf": csrf_token(request), "nonce": nonce},
            status_code=status,
        )
        response.headers["Content-Security-Policy"] = (
            f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
        )
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    @staticmethod
    def _flash(request: Request, kind: str, text: str) -> None:
        request.session["flash"] = {"kind": kind, "text": text}

    @staticmethod
    async def _form(request: Request) -> FormData:
        """The posted form, refused (413) past MAX_BODY_BYTES: by its Content-Length, else while
        it streams in (a chunked body has none)."""
        too_large = InvalidBody("form too large", code="body_too_large", status=413)
        declared = request.headers.get("content-length") or "0"
        if not declared.isdigit():
            raise InvalidBody(
                "Content-Length is not a byte count", code="malformed_body", status=400
            )
        if int(declared) > MAX_BODY_BYTES:
            raise too_large
        size = 0

        async def receive() -> Message:
            nonlocal size
            message = await request.receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > MAX_BODY_BYTES:
                    raise too_large
            return message

        limited = Request(request.scope, receive)
        return await limited.form(max_files=0, max_fields=16)

    async def _form_writer(self, request: Request) -> tuple[Principal, FormData]:
        """A form post that needs a signed-in reviewer: who (before the body is read, so a
        stranger's body is never parsed), then the form and its CSRF token."""
        principal = self._principal(request)
        form = await self._form(request)
        if principal.via != "bearer":
            check_csrf(request, form.get("csrf"))
        return principal, form

    # -- pages -------------------------------------------------------------------------------

    async def login_page(self, request: Request) -> Response:
        if self.auth.identify(request) is not None:
            return RedirectResponse("/", status_code=303)
        return self._render(request, "login.html", {"error": None})

    async def login(self, request: Request) -> Response:
        form = await self._form(request)
        try:
            check_csrf(request, form.get("csrf"))
        except ApiError as error:
            return self._render(request, "login.html", {"error": error.message}, error.status)
        token = form.get("token")
        name = self.auth.sign_in(request, token) if isinstance(token, str) else None
        if name is None:
            log.info("sign-in refused")
            return self._render(request, "login.html", {"error": "Unknown token."}, 401)
        log.info("signed in", extra={"reviewer": name})
        return RedirectResponse("/", status_code=303)

    async def logout(self, request: Request) -> Response:
        if self.auth.identify(request) is None:  # nothing to sign out of: the body stays unread
            request.session.clear()
            return RedirectResponse("/login", status_code=303)
        form = await self._form(request)
        check_csrf(request, form.get("csrf"))
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    async def review_page(self, request: Request) -> Response:
        principal = self.auth.identify(request)
        if principal is None:
            return RedirectResponse("/login", status_code=303)
        item = await run_in_threadpool(self.service.next_item, principal.name)
        snapshot = self.service.snapshot()
        last = self.service.queue.last_decision(principal.name)
        flash = request.session.pop("flash", None)
        return self._render(
            request,
            "review.html",
            {
                "reviewer": principal.name,
                "via": principal.via,
                "item": item,
                "now": self.service.queue.now(),
                "depth": snapshot.depth,
                "last": last.record if last else None,
                "flash": flash,
                "tags": list(zip(KEYS, APPROVED_TAGS, strict=True)),
            },
        )

    async def decide(self, request: Request) -> Response:
        """The page's buttons (and keys): a tag, the model's tag (Enter) or skip."""
        principal, form = await self._form_writer(request)
        event_id = form.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            raise InvalidBody("the form has no event_id")
        try:
            if form.get("skip"):
                record = await run_in_threadpool(self.service.skip, principal.name, event_id)
                self._flash(request, "ok", f"Skipped “{record.title[:80]}”. U undoes.")
            else:
                tag = form.get("tag")
                record = await run_in_threadpool(self.service.label, principal.name, event_id, tag)
                verb = "Confirmed" if record.action == "confirm" else "Corrected to"
                self._flash(
                    request, "ok", f"{verb} {record.final_tag}: “{record.title[:80]}”. U undoes."
                )
        except ApiError as error:
            if error.status in (401, 403):
                raise
            self._flash(request, "error", error.message)
        return RedirectResponse("/", status_code=303)

    async def undo_form(self, request: Request) -> Response:
        principal, _ = await self._form_writer(request)
        try:
            item = await run_in_threadpool(self.service.undo, principal.name)
            self._flash(request, "ok", f"Undone: “{item.event.title[:80]}” is yours again.")
        except ApiError as error:
            if error.status in (401, 403):
                raise
            self._flash(request, "error", error.message)
        return RedirectResponse("/", status_code=303)

    # -- JSON API ----------------------------------------------------------------------------

    async def api_next(self, request: Request) -> Response:
        principal = self._principal(request)
        item = await run_in_threadpool(self.service.next_item, principal.name)
        if item is None:
            return Response(status_code=204)
        return JSONResponse(item_json(item, self.service.queue.now()))

    async def api_labels(self, request: Request) -> Response:
        principal = self._writer(request, request.headers.get("x-csrf-token"))
        body = parse(LabelIn, await read_json(request))
        record = await run_in_threadpool(
            self.service.label, principal.name, body.event_id, body.tag
        )
        return JSONResponse(record_json(record))

    async def api_skip(self, request: Request) -> Response:
        principal = self._writer(request, request.headers.get("x-csrf-token"))
        body = parse(SkipIn, await read_json(request))
        record = await run_in_threadpool(self.service.skip, principal.name, body.event_id)
        return JSONResponse(record_json(record))

    async def api_undo(self, request: Request) -> Response:
        principal = self._writer(request, request.headers.get("x-csrf-token"))
        item = await run_in_threadpool(self.service.undo, principal.name)
        return JSONResponse(item_json(item, self.service.queue.now()))

    async def api_reports(self, request: Request) -> Response:
        principal = self._writer(request, request.headers.get("x-csrf-token"))
        body = parse(ReportIn, await read_json(request))
        record = await run_in_threadpool(
            self.service.report, principal.name, body.event_id, body.reported_tag, body.comment
        )
        return JSONResponse({**record_json(record), "queued": True}, status_code=202)

    # -- ops ---------------------------------------------------------------------------------

    async def metrics(self, request: Request) -> Response:
        self.service.snapshot()
        body = generate_latest(self.service.metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def healthz(self, request: Request) -> Response:
        ready, details = self.health()
        snapshot = self.service.snapshot()
        stats = snapshot.stats
        body = {
            "status": "ok" if ready else "unavailable",
            **details,
            "queue": {
                "depth": snapshot.depth,
                "lag": snapshot.lag,
                "items": stats.items,
                "leased": stats.leased,
                "reported": stats.reported,
                "held_records": stats.held_records,
                "decided": stats.decided,
            },
            "index_size": len(self.service.index),
        }
        return JSONResponse(body, status_code=200 if ready else 503)


def _guard(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """ApiError → its JSON answer (for pages too: a CSRF failure is no page to render)."""

    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as error:
            if error.status >= 500:
                log.warning("request failed", extra={"path": request.url.path, "error": error.code})
            return error_response(error)

    guarded.__name__ = handler.__name__
    return guarded


def create_app(
    service: ReviewService,
    auth: Authenticator,
    *,
    secret_key: str,
    health: Health | None = None,
    lifespan: Lifespan | None = None,
    cookie_secure: bool = False,
    session_max_age: int = 12 * 3600,
) -> Starlette:
    app = ReviewerApp(service, auth, health)
    routes = [
        Route("/login", _guard(app.login_page), methods=["GET"]),
        Route("/login", _guard(app.login), methods=["POST"]),
        Route("/logout", _guard(app.logout), methods=["POST"]),
        Route("/", _guard(app.review_page), methods=["GET"]),
        Route("/decide", _guard(app.decide), methods=["POST"]),
        Route("/undo", _guard(app.undo_form), methods=["POST"]),
        Route("/api/next", _guard(app.api_next), methods=["GET"]),
        Route("/api/labels", _guard(app.api_labels), methods=["POST"]),
        Route("/api/skip", _guard(app.api_skip), methods=["POST"]),
        Route("/api/undo", _guard(app.api_undo), methods=["POST"]),
        Route("/api/reports", _guard(app.api_reports), methods=["POST"]),
        Route("/metrics", app.metrics, methods=["GET"]),
        Route("/healthz", app.healthz, methods=["GET"]),
    ]
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=secret_key,
            session_cookie=SESSION_COOKIE,
            max_age=session_max_age,
            same_site="lax",
            https_only=cookie_secure,
        )
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)

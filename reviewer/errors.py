"""Every refusal the app answers with: an HTTP status, a stable code for scripts, a message for
people. One type, so the queue, the service and the web layer agree on what a client sees, and
every refusal is raised before anything is written."""

from typing import Any


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class CsrfFailed(ApiError):
    status, code = 403, "csrf_failed"


class MalformedBody(ApiError):
    status, code = 400, "malformed_json"


class InvalidBody(ApiError):
    status, code = 422, "invalid_request"


class UnapprovedTag(ApiError):
    status, code = 422, "unapproved_tag"


class UnknownEvent(ApiError):
    status, code = 404, "unknown_event"


class AlreadyDecided(ApiError):
    status, code = 409, "already_decided"


class LeasedToOther(ApiError):
    status, code = 409, "leased_to_other"


class NothingToUndo(ApiError):
    status, code = 409, "nothing_to_undo"


class FeedbackUnavailable(ApiError):
    """The feedback record was not acknowledged in time: nothing is taken as decided."""

    status, code = 503, "feedback_unavailable"

"""The platform's one error hierarchy. Each error carries a stable machine
code, an HTTP status and a human message; `moderation.api.errors` maps them
to responses in one place."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    status = 400
    code = "bad_request"
    message = "The request could not be processed."

    def __init__(self, message: str | None = None, *, code: str | None = None, detail: Any = None) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.detail = detail
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "detail": self.detail}}


class InvalidInput(ApplicationError):
    status = 400
    code = "invalid_input"


class PayloadTooLarge(ApplicationError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ApplicationError):
    status = 415
    code = "unsupported_format"


class NotFound(ApplicationError):
    status = 404
    code = "not_found"
    message = "Not found."


class Forbidden(ApplicationError):
    status = 403
    code = "permission_denied"
    message = "You may not do this."


class Conflict(ApplicationError):
    status = 409
    code = "conflict"


class RateLimited(ApplicationError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, code: str = "rate_limited", detail=None) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(message, code=code, detail={"retry_after": self.retry_after, **(detail or {})})


class Overloaded(ApplicationError):
    """Accepting more would only grow a queue nobody reaches in time: 503 with
    Retry-After, and nothing was stored."""

    status = 503
    code = "queue_full"

    def __init__(self, message: str, *, retry_after: int, detail=None) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(message, detail={"retry_after": self.retry_after, **(detail or {})})

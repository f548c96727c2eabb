"""Request bodies are refused before they are read.

WSGI (gunicorn, `config/wsgi.py`): a body's size is judged from its
Content-Length header, before Django's multipart parser (or anything else)
reads a byte of it: more than UPLOAD_MAX_BYTES plus room for the multipart
envelope (field names, caption, boundaries) is a 413 with the stable code
`file_too_large`. A body without a Content-Length (chunked transfer encoding)
is refused with 411: Django's WSGI request reads no more than the declared
length (none), so refusing says so clearly instead of failing as "no image".

ASGI (`config/asgi.py`): Django reads the whole body before any middleware
runs, so `BodyCappedASGIHandler` applies the same cap while it receives: a
declared length over the cap is refused before the first chunk is read, and a
streamed (chunked) body is cut off with a 413 as soon as it passes the cap.
"""

from __future__ import annotations

from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponse, JsonResponse

from moderation.api.errors import error_body
from moderation.humanize import human_bytes, sizes_over_limit

# The multipart envelope around the file: boundaries, headers, caption (2000
# characters), external id.
ENVELOPE_BYTES = 64 * 1024


def request_max_bytes() -> int:
    return settings.UPLOAD_MAX_BYTES + ENVELOPE_BYTES


def _refusal(path: str, status: int, code: str, message: str, detail=None) -> HttpResponse:
    # No Connection header (hop-by-hop headers are the server's under WSGI):
    # gunicorn discards the unread rest of the body itself, without keeping it.
    if path.startswith("/api/"):
        return JsonResponse(error_body(code, message, detail), status=status)
    return HttpResponse(f"{message} ({code})", status=status, content_type="text/plain; charset=utf-8")


def _too_large(path: str, size: int | None) -> HttpResponse:
    limit = request_max_bytes()
    shown, cap = sizes_over_limit(size, limit) if size is not None else ("over the limit", human_bytes(limit))
    return _refusal(
        path,
        413,
        "file_too_large",
        f"The request is {shown}; the limit is {cap}.",
        {"bytes": size, "max_bytes": limit},
    )


class RequestBodyLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        declared = request.META.get("CONTENT_LENGTH") or ""
        if declared:
            try:
                size = int(declared)
            except ValueError:
                return _refusal(request.path, 400, "malformed_request", "The Content-Length header is not a number.")
            if size > request_max_bytes():
                return _too_large(request.path, size)
        elif "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            return _refusal(
                request.path,
                411,
                "length_required",
                "Send the request with a Content-Length header (chunked bodies are not accepted).",
            )
        return self.get_response(request)


class _BodyTooLarge(Exception):
    pass


class BodyCappedASGIHandler(ASGIHandler):
    """Django's ASGI handler, with the body cap applied while the body arrives."""

    async def handle(self, scope, receive, send):
        limit = request_max_bytes()
        path = scope.get("path", "")
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self.send_response(_too_large(path, int(declared)), send)
            return
        received = 0

        async def capped_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise _BodyTooLarge
            return message

        try:
            await super().handle(scope, capped_receive, send)
        except _BodyTooLarge:  # raised while reading the body: nothing was sent yet
            await self.send_response(_too_large(path, None), send)

"""Request bodies are refused before they are read.

A body's size is judged from its Content-Length header, before Django's
multipart parser (or anything else) reads a byte of it: more than
UPLOAD_MAX_BYTES plus room for the multipart envelope (field names, caption,
boundaries) is a 413 with the stable code `file_too_large`. A body without a Content-Length
(chunked transfer encoding) is refused with 411: under WSGI Django would read
none of it anyway (its stream is limited to the declared length, 0), so
refusing says so clearly instead of failing later as "no image".
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from moderation.api.errors import error_body

# The multipart envelope around the file: boundaries, headers, caption (2000
# characters), external id.
ENVELOPE_BYTES = 64 * 1024


def request_max_bytes() -> int:
    return settings.UPLOAD_MAX_BYTES + ENVELOPE_BYTES


def _refuse(request: HttpRequest, status: int, code: str, message: str, detail=None) -> HttpResponse:
    if request.path.startswith("/api/"):
        response = JsonResponse(error_body(code, message, detail), status=status)
    else:
        response = HttpResponse(f"{message} ({code})", status=status, content_type="text/plain; charset=utf-8")
    # No Connection header (hop-by-hop headers are the server's under WSGI):
    # gunicorn discards the unread rest of the body itself, without keeping it.
    return response


class RequestBodyLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        declared = request.META.get("CONTENT_LENGTH") or ""
        limit = request_max_bytes()
        if declared:
            try:
                size = int(declared)
            except ValueError:
                return _refuse(request, 400, "malformed_request", "The Content-Length header is not a number.")
            if size > limit:
                return _refuse(request, 413, "file_too_large",
                               f"The request is {size} bytes; the limit is {limit} bytes.",
                               {"bytes": size, "max_bytes": limit})
        elif "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            return _refuse(request, 411, "length_required",
                           "Send the request with a Content-Length header (chunked bodies are not accepted).")
        return self.get_response(request)

"""The one place where errors become HTTP responses:
{"error": {"code": ..., "message": ..., "detail": ...}}."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from moderation.errors import ApplicationError

# DRF's own exceptions -> our stable codes.
_DRF_CODES: list[tuple[type[drf.APIException], str]] = [
    (drf.NotAuthenticated, "not_authenticated"),
    (drf.AuthenticationFailed, "authentication_failed"),
    (drf.PermissionDenied, "permission_denied"),
    (drf.NotFound, "not_found"),
    (drf.MethodNotAllowed, "method_not_allowed"),
    (drf.NotAcceptable, "not_acceptable"),
    (drf.UnsupportedMediaType, "unsupported_media_type"),
    (drf.Throttled, "rate_limited"),
    (drf.ParseError, "malformed_request"),
    (drf.ValidationError, "invalid_input"),
]


def error_body(code: str, message: str, detail=None) -> dict:
    return {"error": {"code": code, "message": message, "detail": detail}}


def exception_handler(exc, context):
    response: Response | None
    if isinstance(exc, ApplicationError):
        response = Response(exc.as_dict(), status=exc.status)
        retry_after = getattr(exc, "retry_after", None)  # RateLimited, Overloaded
        if retry_after:
            response["Retry-After"] = str(retry_after)
        return response
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not ours: Django's 500 handling applies
    code = next((c for cls, c in _DRF_CODES if isinstance(exc, cls)), "error")
    if isinstance(exc, drf.ValidationError):
        message, detail = "Some fields are invalid.", exc.detail
    else:
        message, detail = str(exc.detail), None
    response.data = error_body(code, message, detail)
    return response


def _wants_json(request) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request, exception=None):
    """404 for URLs no view matched: the API's error shape under /api/, HTML elsewhere."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found as html_not_found

    if _wants_json(request):
        return JsonResponse(error_body("not_found", "No such resource."), status=404)
    return html_not_found(request, exception)


def server_error(request):
    from django.http import JsonResponse
    from django.views.defaults import server_error as html_server_error

    if _wants_json(request):
        return JsonResponse(
            error_body("server_error", "Something went wrong on our side; it has been logged."), status=500
        )
    return html_server_error(request)

"""Account pages that are not Django's own views: the sign-in lockout page
(django-axes calls it) and the site icon."""

from __future__ import annotations

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_control

from moderation.uploader_status import duration_words


def cooloff_seconds() -> int:
    """AXES_COOLOFF_TIME in seconds (it is configured in hours)."""
    cooloff = settings.AXES_COOLOFF_TIME
    if hasattr(cooloff, "total_seconds"):
        return int(cooloff.total_seconds())
    return int(float(cooloff) * 3600)


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """django-axes' answer to a locked-out sign-in: the site's page, 429, and
    how long the lock lasts (the configured cool-off)."""
    seconds = cooloff_seconds()
    minutes = max(1, round(seconds / 60))
    lasts = "an hour" if minutes == 60 else duration_words(minutes)
    response = render(
        request,
        "registration/locked_out.html",
        {"lasts": lasts, "failure_limit": settings.AXES_FAILURE_LIMIT},
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response


@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> FileResponse:
    path = finders.find("favicon.ico")
    if not path:
        raise Http404
    return FileResponse(open(path, "rb"), content_type="image/x-icon")

"""Account pages that are not Django's own views: the sign-in lockout page
(django-axes calls it), the password reset request (Django's, throttled) and
the site icon."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import views as auth_views
from django.contrib.staticfiles import finders
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_control

from moderation.client_address import client_address
from moderation.errors import RateLimited
from moderation.services.ratelimit import check_password_reset, password_reset_account_admit
from moderation.uploader_status import duration_words
from moderation.views import rate_limited_page


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


class PasswordResetForm(auth_forms.PasswordResetForm):
    def get_users(self, email):
        """The accounts with this address that may get one more mail this hour."""
        return (user for user in super().get_users(email) if password_reset_account_admit(user))


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset request, counted per client address and per e-mail
    address (429 `password_reset_rate_limited` past either) and per account
    (past it, no mail; the page answers the same)."""

    form_class = PasswordResetForm

    def form_valid(self, form):
        try:
            check_password_reset(address=client_address(self.request), email=form.cleaned_data["email"])
        except RateLimited as exc:
            return rate_limited_page(self.request, exc)
        return super().form_valid(form)


@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> FileResponse:
    path = finders.find("favicon.ico")
    if not path:
        raise Http404
    return FileResponse(open(path, "rb"), content_type="image/x-icon")

"""Who may open a page: the one decorator every permission-guarded view uses.

A visitor who is not signed in is sent to sign in; a signed-in person who
lacks the permission gets the 403 page (templates/403.html), never the
sign-in form again (Django's own `permission_required` would redirect both)."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.decorators import user_passes_test
from django.core.exceptions import PermissionDenied


def permission_required(perm: str | Iterable[str], login_url: str | None = None):
    perms = (perm,) if isinstance(perm, str) else tuple(perm)

    def check(user) -> bool:
        if not user.is_authenticated:
            return False
        if user.has_perms(perms):
            return True
        raise PermissionDenied("You do not have access to this page.")

    return user_passes_test(check, login_url=login_url)

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models.functions import Length

from moderation.errors import InvalidInput
from moderation.setup import MODERATORS_GROUP
from moderation.text import skeleton, username_problem


def username_check(*, username: str) -> None:
    """Refuse a username that may pass for another person's (InvalidInput):
    mixed scripts, look-alike letter forms, hidden characters, or a name that
    looks like one already taken (`раураl` beside `paypal`, `Mod1` beside `mod1`)."""
    problem = username_problem(username)
    if problem is not None:
        code, message = problem
        raise InvalidInput(message, code=code)
    looks = skeleton(username)
    # Look-alikes map letter for letter, so only names of the same length can collide.
    taken = get_user_model().objects.annotate(n=Length("username")).filter(n=len(username))
    for other in taken.values_list("username", flat=True).iterator():
        if skeleton(other) == looks:
            raise InvalidInput(
                "The username looks like one that is already taken.",
                code="username_confusable",
                detail={"looks_like": other},
            )


@transaction.atomic
def account_create(*, username: str, password: str, email: str = ""):
    """A person's account (sign-up): the username is checked first."""
    username_check(username=username)
    return get_user_model().objects.create_user(username=username, password=password, email=email)


@transaction.atomic
def moderator_create(*, username: str, password: str | None = None, staff: bool = True) -> tuple[object, str]:
    """Create a moderator account; returns it with its password."""
    username_check(username=username)
    password = password or secrets.token_urlsafe(12)
    user = get_user_model().objects.create_user(username=username, password=password, is_staff=staff)
    user.groups.add(Group.objects.get(name=MODERATORS_GROUP))
    return user, password


def moderator_exists() -> bool:
    return get_user_model().objects.filter(groups__name=MODERATORS_GROUP).exists()

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models.functions import Length

from moderation.errors import InvalidInput, NotFound
from moderation.models import AuditAction, Upload
from moderation.services.audit import audit_record
from moderation.setup import LEADS_GROUP, MODERATORS_GROUP
from moderation.text import skeleton, username_problem

# The roles a person can be given, by the name the command and the README use.
ROLES = {"moderator": MODERATORS_GROUP, "lead": LEADS_GROUP}


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


def _role_group(role: str) -> Group:
    if role not in ROLES:
        raise InvalidInput(f"Unknown role {role!r}: one of {', '.join(ROLES)}.", code="invalid_role")
    return Group.objects.get(name=ROLES[role])


@transaction.atomic
def role_grant(*, username: str, role: str, actor=None, create: bool = False) -> tuple[object, str | None]:
    """Make a person a moderator or a lead (a lead may do all a moderator
    does). With `create`, a missing account is made, with a random password
    returned once; else a missing account is an error. Audited."""
    group = _role_group(role)
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    password = None
    if user is None:
        if not create:
            raise NotFound(f"No account named {username!r} (add --create to make one).", code="user_not_found")
        password = secrets.token_urlsafe(12)
        user = User.objects.create_user(username=username, password=password)
    user.groups.add(group)
    audit_record(
        actor=actor,
        action=AuditAction.ROLE_CHANGED,
        target=user,
        data={"op": "grant", "role": role, "created": bool(password)},
    )
    return user, password


@transaction.atomic
def role_revoke(*, username: str, role: str, actor=None) -> object:
    """Take a role away; a person who may no longer review gives back the
    items they hold at once. Audited."""
    group = _role_group(role)
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise NotFound(f"No account named {username!r}.", code="user_not_found")
    user.groups.remove(group)
    user = get_user_model().objects.get(pk=user.pk)  # a fresh permission cache
    released = 0
    if not user.has_perm("moderation.review_upload"):
        released = Upload.objects.filter(claimed_by=user).update(claimed_by=None, claimed_until=None)
    audit_record(
        actor=actor,
        action=AuditAction.ROLE_CHANGED,
        target=user,
        data={"op": "revoke", "role": role, "claims_released": released},
    )
    return user


def role_holders() -> dict[str, list[str]]:
    """Who holds each role, by username."""
    return {
        role: sorted(get_user_model().objects.filter(groups__name=group).values_list("username", flat=True))
        for role, group in ROLES.items()
    }

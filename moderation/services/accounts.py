from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from moderation.setup import MODERATORS_GROUP


@transaction.atomic
def moderator_create(*, username: str, password: str | None = None, staff: bool = True) -> tuple[object, str]:
    """Create a moderator account; returns it with its password."""
    password = password or secrets.token_urlsafe(12)
    user = get_user_model().objects.create_user(username=username, password=password, is_staff=staff)
    user.groups.add(Group.objects.get(name=MODERATORS_GROUP))
    return user, password


def moderator_exists() -> bool:
    return get_user_model().objects.filter(groups__name=MODERATORS_GROUP).exists()

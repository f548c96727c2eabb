"""Making and removing moderators and leads from the command line
(`manage.py role`), through one audited service."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from moderation.models import AuditEvent, Upload
from moderation.services.queue import queue_claim
from tests.factories import upload_in_review

pytestmark = pytest.mark.django_db


def _run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("role", *args, stdout=out)
    return out.getvalue()


def test_grant_and_revoke_a_moderator_and_a_lead():
    out = _run("grant", "alice", "moderator", "--create")
    assert "alice is now a moderator" in out and "password" in out
    alice = get_user_model().objects.get(username="alice")
    assert alice.has_perm("moderation.review_upload") and not alice.is_staff
    password = out.rsplit(": ", 1)[-1].strip()
    assert alice.check_password(password)

    _run("grant", "alice", "lead")
    alice = get_user_model().objects.get(pk=alice.pk)
    assert alice.has_perm("moderation.calibrate_thresholds")
    assert "leads: alice" in _run("list") and "moderators: alice" in _run("list")

    upload = upload_in_review()
    queue_claim(moderator=alice, upload_id=upload.pk)
    _run("revoke", "alice", "lead")
    _run("revoke", "alice", "moderator")
    alice = get_user_model().objects.get(pk=alice.pk)
    assert not alice.has_perm("moderation.review_upload")
    assert Upload.objects.get(pk=upload.pk).claimed_by is None  # no longer a moderator: the claim is given back
    ops = list(AuditEvent.objects.filter(action="role.changed").order_by("id").values_list("data", flat=True))
    assert [(d["op"], d["role"]) for d in ops] == [
        ("grant", "moderator"),
        ("grant", "lead"),
        ("revoke", "lead"),
        ("revoke", "moderator"),
    ]
    assert ops[-1]["claims_released"] == 1


def test_a_missing_account_or_role_is_refused_with_a_message():
    with pytest.raises(CommandError, match="No account named 'bob'"):
        _run("grant", "bob", "lead")
    with pytest.raises(CommandError):
        _run("grant", "bob", "admin")  # not a role
    assert not get_user_model().objects.filter(username="bob").exists()
    assert not AuditEvent.objects.filter(action="role.changed").exists()

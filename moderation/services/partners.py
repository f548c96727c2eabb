"""Partners and their API keys. A key is shown once; only its hash is kept."""

from __future__ import annotations

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone

from moderation.models import ApiKey, AuditAction, Partner
from moderation.services.audit import audit_record

KEY_PREFIX_LENGTH = 8


def hash_key(raw_key: str) -> str:
    # API keys are 256-bit random strings, so a fast hash cannot be brute-forced
    # and lets a request find its key by an indexed lookup.
    return hashlib.sha256(raw_key.encode()).hexdigest()


@transaction.atomic
def api_key_create(*, partner: Partner, name: str = "default", actor=None) -> tuple[ApiKey, str]:
    raw = f"mk_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(partner=partner, name=name, prefix=raw[:KEY_PREFIX_LENGTH], key_hash=hash_key(raw))
    audit_record(
        actor=actor, action=AuditAction.API_KEY_CREATED, target=key, data={"partner": partner.pk, "name": name}
    )
    return key, raw


@transaction.atomic
def partner_create(*, name: str, actor=None) -> tuple[Partner, str]:
    """Create a partner with one API key; returns the raw key (shown once)."""
    partner = Partner.objects.create(name=name)
    audit_record(actor=actor, action=AuditAction.PARTNER_CREATED, target=partner, data={"name": name})
    _, raw = api_key_create(partner=partner, actor=actor)
    return partner, raw


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor=None) -> None:
    """Revoke at once: the next request with this key is refused."""
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(actor=actor, action=AuditAction.API_KEY_REVOKED, target=key, data={"prefix": key.prefix})


@transaction.atomic
def api_key_rotate(*, key: ApiKey, actor=None) -> tuple[ApiKey, str]:
    """A new key with the same name; the old one is revoked."""
    new_key, raw = api_key_create(partner=key.partner, name=key.name, actor=actor)
    api_key_revoke(key=key, actor=actor)
    return new_key, raw


def api_key_authenticate(raw_key: str) -> ApiKey | None:
    key = ApiKey.objects.select_related("partner").filter(key_hash=hash_key(raw_key), revoked_at__isnull=True).first()
    now = timezone.now()
    # Recorded at most once a minute per key, so that requests don't all write.
    if key is not None and (key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key

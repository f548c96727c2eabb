from __future__ import annotations

from typing import Any

from django.db import models

from moderation.models import AuditAction, AuditEvent


def audit_record(*, actor, action: AuditAction, target: models.Model, data: dict[str, Any] | None = None) -> AuditEvent:
    """Add one audit row. Call it inside the transaction of the act it records."""
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        data=data or {},
    )

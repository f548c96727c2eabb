from __future__ import annotations

from typing import Any

from django.db import models

from moderation.models import AuditAction, AuditEvent


def audit_record(
    *,
    actor,
    action: AuditAction,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str = "",
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one audit row. Call it inside the transaction of the act it records.
    The target is a row, or a type and id for acts on a set of rows."""
    known = getattr(actor, "is_authenticated", False) and getattr(actor, "pk", None)
    return AuditEvent.objects.create(
        actor=actor if known else None,
        # Kept beside the key: deleting the account does not make its acts "system".
        actor_name=actor.get_username() if known else "",
        action=action,
        target_type=target._meta.label_lower if target is not None else target_type,
        target_id=str(target.pk) if target is not None else target_id,
        data=data or {},
    )


def audit_model_version_status(sender, *, version, previous_status, actor, reason, **kwargs) -> None:
    """Receiver of classifier's model_version_status_changed."""
    audit_record(
        actor=actor,
        action=AuditAction.MODEL_VERSION_STATUS,
        target=version,
        data={"name": version.name, "from": previous_status, "to": version.status, "reason": reason},
    )

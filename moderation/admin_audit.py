"""The admin leaves a record: every change to what steers moderation (users,
groups, partners and their limits, API keys, thresholds, flag categories and
their ImageNet mapping, banks) is an audit row, written in the same
transaction as the change; the record itself (audit rows, decisions, flags)
is read-only there."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.db import models

from moderation.models import AuditAction
from moderation.services.audit import audit_record

# Values never copied into the record (only that they changed).
_SECRET_MARKERS = ("password", "secret", "key_hash", "token")


def _shown(name: str, value: Any) -> Any:
    if any(marker in name for marker in _SECRET_MARKERS):
        return "(changed)"
    if isinstance(value, models.QuerySet | list | tuple | set):
        return sorted(str(item) for item in value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _plain(message: Any) -> Any:
    """The admin's change message as plain JSON (its labels may be lazy strings)."""
    return json.loads(json.dumps(message, default=str))


class AuditedAdminMixin:
    """A ModelAdmin mixin: adds, changes (also list_editable and inlines) and
    deletes (also bulk) each write an audit row naming the fields, with the
    values before and after (secrets only as "(changed)")."""

    audit_action = AuditAction.ADMIN_CHANGED

    def _audit(self, request, obj, op: str, data: dict | None = None) -> None:
        audited = request.__dict__.setdefault("_audited_objects", set())
        audited.add((obj._meta.label_lower, str(obj.pk)))
        audit_record(
            actor=request.user, action=self.audit_action, target=obj, data={"op": op, "via": "admin", **(data or {})}
        )

    def _was_audited(self, request, obj) -> bool:
        return (obj._meta.label_lower, str(obj.pk)) in request.__dict__.get("_audited_objects", set())

    def save_model(self, request, obj, form, change):
        before = {name: _shown(name, form.initial.get(name)) for name in form.changed_data}
        super().save_model(request, obj, form, change)
        if change and not form.changed_data:
            return  # saved as it was: nothing to record
        after = {name: _shown(name, form.cleaned_data.get(name)) for name in form.changed_data}
        self._audit(
            request,
            obj,
            "change" if change else "create",
            {
                "fields": {
                    name: value if isinstance(value, list) or value is None else str(value)
                    for name, value in after.items()
                },
                "before": before,
            },
        )

    def delete_model(self, request, obj):
        self._audit(request, obj, "delete", {"repr": str(obj)})
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self._audit(request, obj, "delete", {"repr": str(obj)})
        super().delete_queryset(request, queryset)

    def save_formset(self, request, form, formset, change):
        """Inline rows (an ImageNet mapping of a flag category, ...)."""
        for inline_form in formset.deleted_forms:
            if inline_form.instance.pk is not None:
                self._audit(
                    request,
                    inline_form.instance,
                    "delete",
                    {"repr": str(inline_form.instance), "parent": str(form.instance.pk)},
                )
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            self._audit(request, obj, "create", {"repr": str(obj), "parent": str(form.instance.pk)})
        for obj, fields in formset.changed_objects:
            self._audit(
                request,
                obj,
                "change",
                {
                    "repr": str(obj),
                    "parent": str(form.instance.pk),
                    "fields": {name: _shown(name, str(getattr(obj, name, ""))) for name in fields},
                },
            )

    # Paths that save without save_model (a user's password form, actions)
    # still log through these; they are audited unless save_model was.
    def log_change(self, request, obj, message):
        if message and not self._was_audited(request, obj):
            self._audit(request, obj, "change", {"message": _plain(message)})
        return super().log_change(request, obj, message)

    def log_addition(self, request, obj, message):
        if not self._was_audited(request, obj):
            self._audit(request, obj, "create", {"message": _plain(message)})
        return super().log_addition(request, obj, message)


class ReadOnlyAdminMixin:
    """The record: seen in the admin, never added, edited or deleted there."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


User = get_user_model()
for _model in (User, Group):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(User)
class AuditedUserAdmin(AuditedAdminMixin, UserAdmin):
    """Users: their groups (roles), permissions, staff and active flags."""


@admin.register(Group)
class AuditedGroupAdmin(AuditedAdminMixin, GroupAdmin):
    """Groups: the roles and their permissions."""

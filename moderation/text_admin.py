"""The term list and the domain lists in the Django admin (issue 27): written
through the same services as the lead's page (lead permission, validation,
an audit row per change); what was read in an upload is read-only."""

from __future__ import annotations

from django.contrib import admin

from moderation.admin_audit import ReadOnlyAdminMixin
from moderation.models import DomainRule, TextTerm, UploadText
from moderation.services.text import (
    domain_rule_delete,
    domain_rule_set,
    text_term_create,
    text_term_delete,
    text_term_update,
)


@admin.register(TextTerm)
class TextTermAdmin(admin.ModelAdmin):
    list_display = ("term", "match", "enabled", "note", "created_by", "updated_at")
    list_filter = ("match", "enabled")
    search_fields = ("term", "note")
    fields = ("term", "match", "enabled", "note")

    def get_readonly_fields(self, request, obj=None):
        return ("term", "match") if obj is not None else ()

    def save_model(self, request, obj, form, change) -> None:
        if change:
            text_term_update(actor=request.user, term_id=obj.pk, enabled=obj.enabled, note=obj.note)
        else:
            created = text_term_create(actor=request.user, term=obj.term, match=obj.match, note=obj.note)
            if not obj.enabled:
                text_term_update(actor=request.user, term_id=created.pk, enabled=False)
            obj.pk = created.pk

    def delete_model(self, request, obj) -> None:
        text_term_delete(actor=request.user, term_id=obj.pk)

    def delete_queryset(self, request, queryset) -> None:
        for row in queryset:
            text_term_delete(actor=request.user, term_id=row.pk)


@admin.register(DomainRule)
class DomainRuleAdmin(admin.ModelAdmin):
    list_display = ("domain", "listing", "note", "created_by", "created_at")
    list_filter = ("listing",)
    search_fields = ("domain", "note")
    fields = ("domain", "listing", "note")

    def get_readonly_fields(self, request, obj=None):
        return ("domain",) if obj is not None else ()

    def save_model(self, request, obj, form, change) -> None:
        row = domain_rule_set(actor=request.user, domain=obj.domain, listing=obj.listing, note=obj.note)
        obj.pk = row.pk

    def delete_model(self, request, obj) -> None:
        domain_rule_delete(actor=request.user, domain=obj.domain)

    def delete_queryset(self, request, queryset) -> None:
        for row in queryset:
            domain_rule_delete(actor=request.user, domain=row.domain)


@admin.register(UploadText)
class UploadTextAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("upload", "cut_short", "created_at")
    search_fields = ("text", "upload__id")
    readonly_fields = [f.name for f in UploadText._meta.fields]

"""Custom categories in the Django admin (issue 15): created and changed
through the same services as the lead's pages (lead permission, audit rows);
examples and heads are listed read-only (examples are removed through the
service, which audits it)."""

from __future__ import annotations

from django.contrib import admin

from moderation.models import CategoryExample, CategoryHead, CustomCategory
from moderation.services.categories import category_create, category_update, example_remove


class CategoryHeadInline(admin.TabularInline):
    model = CategoryHead
    fields = ("version", "status", "threshold", "backbone_version_id", "confirmed_by", "confirmed_at", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CustomCategory)
class CustomCategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "threshold", "reject_threshold", "live_head", "active_head", "enabled")
    fields = ("name", "description", "kind", "threshold", "reject_threshold", "enabled", "live_head", "active_head")
    # A head goes live only through the lead's page (dry run, then category_confirm).
    readonly_fields = ("live_head", "active_head")
    inlines = [CategoryHeadInline]

    def get_readonly_fields(self, request, obj=None):
        return ("name", "live_head", "active_head") if obj is not None else ("live_head", "active_head")

    def save_model(self, request, obj, form, change) -> None:
        if change:
            category_update(
                actor=request.user,
                category=obj,
                description=obj.description,
                kind=obj.kind,
                threshold=obj.threshold,
                reject_threshold=obj.reject_threshold,
                enabled=obj.enabled,
            )
        else:
            created = category_create(
                actor=request.user,
                name=obj.name,
                description=obj.description,
                kind=obj.kind,
                threshold=obj.threshold,
                reject_threshold=obj.reject_threshold,
            )
            obj.pk, obj.slug = created.pk, created.slug


@admin.register(CategoryExample)
class CategoryExampleAdmin(admin.ModelAdmin):
    list_display = ("category", "positive", "upload", "label", "source", "added_by", "created_at")
    list_filter = ("category", "positive", "source")
    readonly_fields = ("category", "upload", "positive", "backbone_version_id", "source", "label", "added_by")
    exclude = ("embedding",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def delete_model(self, request, obj) -> None:
        example_remove(actor=request.user, example_id=obj.pk)

    def delete_queryset(self, request, queryset) -> None:
        for pk in queryset.values_list("pk", flat=True):
            example_remove(actor=request.user, example_id=pk)

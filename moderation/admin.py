from django.contrib import admin
from django.utils.html import format_html

from moderation.models import (
    ApiKey,
    AuditEvent,
    BankedHash,
    ClassPolicy,
    Decision,
    Flag,
    FlagCategory,
    HashBank,
    ImageNetClassMapping,
    Partner,
    Prediction,
    Upload,
)
from moderation.services.banks import bank_hash_remove


class PredictionInline(admin.TabularInline):
    model = Prediction
    extra = 0
    can_delete = False
    readonly_fields = ("model_version", "label", "score", "created_at")
    fields = readonly_fields


class FlagInline(admin.TabularInline):
    model = Flag
    extra = 0
    can_delete = False
    readonly_fields = ("kind", "category", "score", "action", "reason", "detail")
    fields = readonly_fields


class DecisionInline(admin.TabularInline):
    model = Decision
    extra = 0
    can_delete = False
    readonly_fields = ("moderator", "verdict", "reason_code", "label_before", "label_after", "note", "created_at")
    fields = readonly_fields


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "policy_verdict", "partner", "uploader", "image_format", "size_display", "created_at")
    list_filter = ("status", "policy_verdict", "image_format", "partner")
    search_fields = ("id", "external_id", "original_filename", "sha256", "caption")
    date_hierarchy = "created_at"
    list_select_related = ("partner", "uploader")
    readonly_fields = [f.name for f in Upload._meta.fields] + ["preview"]
    inlines = [PredictionInline, FlagInline, DecisionInline]

    @admin.display(description="size")
    def size_display(self, obj):
        return f"{obj.width}×{obj.height}"

    @admin.display(description="image")
    def preview(self, obj):
        return format_html('<img src="/uploads/{}/image" style="max-width:320px;max-height:320px">', obj.pk)

    def has_add_permission(self, request):
        return False  # uploads come in through the upload page and the API


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("partner", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("partner__name", "name", "prefix")
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at")


@admin.register(ClassPolicy)
class ClassPolicyAdmin(admin.ModelAdmin):
    list_display = ("class_name", "approve_threshold", "prohibited", "reject_threshold", "updated_at")
    list_editable = ("approve_threshold", "prohibited", "reject_threshold")
    list_filter = ("prohibited",)
    search_fields = ("class_name",)


@admin.register(Decision)
class DecisionAdmin(admin.ModelAdmin):
    list_display = ("upload", "moderator", "verdict", "reason_code", "label_before", "label_after", "created_at")
    list_filter = ("verdict", "reason_code", "moderator")
    search_fields = ("upload__id", "note", "label_after")
    date_hierarchy = "created_at"
    list_select_related = ("moderator",)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor", "action", "target_type", "target_id")
    list_filter = ("action", "target_type")
    search_fields = ("target_id", "actor__username")
    date_hierarchy = "created_at"
    list_select_related = ("actor",)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Flag)
class FlagAdmin(admin.ModelAdmin):
    list_display = ("upload", "kind", "category", "score", "created_at")
    list_filter = ("kind", "category")
    search_fields = ("upload__id",)


class ImageNetClassMappingInline(admin.TabularInline):
    model = ImageNetClassMapping
    extra = 1


@admin.register(FlagCategory)
class FlagCategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "review_threshold", "reject_threshold", "enabled", "mapped_classes")
    list_editable = ("review_threshold", "reject_threshold", "enabled")
    list_filter = ("kind", "enabled")
    inlines = [ImageNetClassMappingInline]

    @admin.display(description="ImageNet classes")
    def mapped_classes(self, obj):
        return ", ".join(m.class_name for m in obj.imagenet_classes.all()) or "—"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("imagenet_classes")


@admin.register(HashBank)
class HashBankAdmin(admin.ModelAdmin):
    list_display = ("name", "action", "max_distance", "enabled", "entry_count", "created_at")
    list_editable = ("action", "max_distance", "enabled")

    @admin.display(description="entries")
    def entry_count(self, obj):
        return obj.entries.count()


@admin.register(BankedHash)
class BankedHashAdmin(admin.ModelAdmin):
    list_display = ("bank", "pdq_hash", "upload", "added_by", "note", "created_at")
    list_filter = ("bank",)
    search_fields = ("pdq_hash", "upload__id", "note")
    readonly_fields = ("bank", "pdq_hash", "upload", "added_by", "created_at")
    list_select_related = ("bank", "added_by")

    def has_add_permission(self, request):
        return False  # entries are added by rejecting an upload into a bank

    def delete_model(self, request, obj):
        bank_hash_remove(entry=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for entry in queryset.select_related("bank"):
            bank_hash_remove(entry=entry, actor=request.user)

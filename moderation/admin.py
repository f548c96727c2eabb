from axes import admin as axes_admin
from axes.models import AccessAttempt
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import PeriodicTask

from moderation.admin_audit import AuditedAdminMixin, ReadOnlyAdminMixin
from moderation.errors import ApplicationError
from moderation.models import (
    ApiKey,
    Appeal,
    AuditAction,
    AuditEvent,
    BankedHash,
    BankRetroSearch,
    ClassPolicy,
    Decision,
    Flag,
    FlagCategory,
    HashBank,
    ImageNetClass,
    Partner,
    Prediction,
    TaxonomyCategory,
    Upload,
    UploaderLimit,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from moderation.services.banks import bank_hash_remove
from moderation.services.partners import api_key_create, api_key_revoke, api_key_rotate
from moderation.services.taxonomy import taxonomy_class_move
from moderation.services.webhooks import (
    validate_callback_url,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
    webhook_replay,
    webhook_secret_rotate,
)
from moderation.templatetags.dashboard import details


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
class UploadAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "status",
        "policy_verdict",
        "partner",
        "uploader",
        "image_format",
        "size_display",
        "created_at",
    )
    list_filter = ("status", "policy_verdict", "image_format", "partner")
    search_fields = ("id", "external_id", "original_filename", "sha256", "caption", "text_reading__text")
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

    def has_change_permission(self, request, obj=None):
        return False  # every field is a record; decisions are made on the review page


class WebhookEndpointForm(forms.ModelForm):
    """The admin refuses the callback URLs the API refuses."""

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "active")

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            validate_callback_url(url)
        except ApplicationError as exc:
            raise ValidationError(exc.message, code=exc.code) from None
        return url


class WebhookEndpointInline(admin.TabularInline):
    model = WebhookEndpoint
    form = WebhookEndpointForm
    extra = 0
    fields = ("url", "active", "created_at")
    readonly_fields = ("created_at",)


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    extra = 0
    can_delete = False
    fields = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False  # keys are made by the "new key" action, which shows the key once


@admin.register(Partner)
class PartnerAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "priority",
        "upload_burst_limit",
        "upload_hourly_limit",
        "burst_limit",
        "sustained_limit",
        "daily_quota",
        "created_at",
    )
    search_fields = ("name",)
    readonly_fields = ("created_at",)
    inlines = [ApiKeyInline, WebhookEndpointInline]
    actions = ["new_key"]

    @admin.action(description="Create a new API key (shown once)", permissions=["mint_key"])
    def new_key(self, request, queryset):
        for partner in queryset:
            _, raw = api_key_create(partner=partner, name="admin", actor=request.user)
            self.message_user(
                request, f"New key for {partner}: {raw} — store it now; it is not shown again.", messages.WARNING
            )

    def has_mint_key_permission(self, request):
        return _may_mint_keys(request)

    def save_formset(self, request, form, formset, change):
        # Callback URLs go through the service, which refuses unsafe addresses.
        if formset.model is WebhookEndpoint:
            for endpoint in formset.save(commit=False):
                if endpoint.pk is None:
                    try:
                        created = webhook_endpoint_create(
                            partner=endpoint.partner, url=endpoint.url, actor=request.user
                        )
                    except ApplicationError as exc:
                        self.message_user(request, exc.message, messages.ERROR)
                    else:
                        self.message_user(request, _secret_message(created), messages.WARNING)
                else:
                    try:
                        webhook_endpoint_update(
                            endpoint_id=endpoint.pk, url=endpoint.url, active=endpoint.active, actor=request.user
                        )
                    except ApplicationError as exc:
                        self.message_user(request, exc.message, messages.ERROR)
            for endpoint in formset.deleted_objects:
                webhook_endpoint_delete(endpoint=endpoint, actor=request.user)
            return
        super().save_formset(request, form, formset, change)


@admin.register(ApiKey)
class ApiKeyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("partner", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("partner__name", "name", "prefix")
    readonly_fields = ("partner", "prefix", "key_hash", "created_at", "last_used_at", "revoked_at")
    actions = ["rotate", "revoke"]

    def has_add_permission(self, request):
        return False  # see the partner's "new key" action

    @admin.action(description="Rotate: new key, old one revoked (shown once)", permissions=["mint_key"])
    def rotate(self, request, queryset):
        for key in queryset.filter(revoked_at__isnull=True):
            _, raw = api_key_rotate(key=key, actor=request.user)
            self.message_user(request, f"New key for {key.partner} / {key.name}: {raw} — shown once.", messages.WARNING)

    @admin.action(description="Revoke now", permissions=["change"])
    def revoke(self, request, queryset):
        for key in queryset:
            api_key_revoke(key=key, actor=request.user)
        self.message_user(request, "Revoked.", messages.SUCCESS)

    def has_mint_key_permission(self, request):
        return _may_mint_keys(request)


def _may_mint_keys(request) -> bool:
    """A new key (the partner's "new key", a rotation) is a new API key and
    the end of an old one: it needs both, never only the right to view."""
    return request.user.has_perms(["moderation.add_apikey", "moderation.change_apikey"])


def _secret_message(endpoint: WebhookEndpoint) -> str:
    return f"Signing secret for {endpoint.url}: {endpoint.secret} — give it to the partner now; it is not shown again."


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Endpoints are added on the partner's page; here their secrets are rotated."""

    list_display = ("url", "partner", "active", "previous_secret_expires_at", "created_at")
    list_filter = ("active",)
    search_fields = ("url", "partner__name")
    fields = ("partner", "url", "active", "previous_secret_expires_at", "created_at")
    readonly_fields = fields
    actions = ["rotate_secret"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # edited on the partner's page; here only the rotate action

    @admin.action(
        description="Rotate the signing secret (new one shown once; the old one signs during the grace period)",
        permissions=["rotate"],
    )
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            self.message_user(
                request, _secret_message(webhook_secret_rotate(endpoint=endpoint, actor=request.user)), messages.WARNING
            )

    def has_rotate_permission(self, request):
        # The form is read-only (has_change_permission is False), but a
        # rotation changes the endpoint: it needs the right to change one.
        return request.user.has_perm("moderation.change_webhookendpoint")


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ("created_at", "outcome", "status_code", "latency_ms", "error")
    readonly_fields = fields


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("event", "endpoint", "upload", "status", "attempts", "next_attempt_at", "created_at")
    list_filter = ("status", "event")
    readonly_fields = (
        "endpoint",
        "upload",
        "event",
        "event_id",
        "payload",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "delivered_at",
    )
    inlines = [WebhookAttemptInline]
    actions = ["replay"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # a delivery's record; the replay action sends it again

    @admin.action(description="Replay the selected deliveries", permissions=["replay"])
    def replay(self, request, queryset):
        for delivery in queryset:
            webhook_replay(delivery=delivery, actor=request.user)
        self.message_user(request, f"{queryset.count()} deliveries queued again.", messages.SUCCESS)

    def has_replay_permission(self, request):
        return request.user.has_perm("moderation.change_webhookdelivery")


@admin.register(Appeal)
class AppealAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("upload", "status", "rejected_by", "decided_by", "created_at", "decided_at")
    list_filter = ("status",)
    search_fields = ("upload__id", "message")
    readonly_fields = [f.name for f in Appeal._meta.fields]

    def has_add_permission(self, request):
        return False


class AuditedChangesMixin(AuditedAdminMixin):
    """Thresholds, flag categories (with their ImageNet mapping) and banks:
    validated by the models' clean(), each change an audit row."""

    audit_action = AuditAction.CLASS_POLICY_CHANGED


@admin.register(ClassPolicy)
class ClassPolicyAdmin(AuditedChangesMixin, admin.ModelAdmin):
    list_display = ("class_name", "approve_threshold", "prohibited", "reject_threshold", "updated_at")
    list_editable = ("approve_threshold", "prohibited", "reject_threshold")
    list_filter = ("prohibited",)
    search_fields = ("class_name",)


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("upload", "moderator", "verdict", "reason_code", "label_before", "label_after", "created_at")
    list_filter = ("verdict", "reason_code", "moderator")
    search_fields = ("upload__id", "note", "label_after")
    date_hierarchy = "created_at"
    list_select_related = ("moderator",)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "actor_name", "action", "target_type", "target_id")
    list_filter = ("action", "target_type")
    search_fields = ("target_id", "actor_name")
    date_hierarchy = "created_at"
    fields = ("created_at", "actor", "actor_name", "action", "target_type", "target_id", "details_display")
    readonly_fields = fields

    @admin.display(description="details")
    def details_display(self, obj):
        lines = details(obj.data)
        if not lines:
            return "-"
        return format_html('<dl class="audit-details">{}</dl>', format_html_join("", "<dt>{}</dt><dd>{}</dd>", lines))


@admin.register(Flag)
class FlagAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("upload", "kind", "category", "score", "created_at")
    list_filter = ("kind", "category")
    search_fields = ("upload__id",)


@admin.register(FlagCategory)
class FlagCategoryAdmin(AuditedChangesMixin, admin.ModelAdmin):
    list_display = ("name", "kind", "taxonomy_category", "review_threshold", "reject_threshold", "enabled")
    list_editable = ("review_threshold", "reject_threshold", "enabled")
    list_filter = ("kind", "enabled")
    list_select_related = ("taxonomy_category",)
    fields = ("name", "kind", "taxonomy_category", "review_threshold", "reject_threshold", "enabled", "description")


class TaxonomyClassInline(admin.TabularInline):
    model = ImageNetClass
    extra = 0
    can_delete = False
    fields = ("index", "name", "source")
    readonly_fields = fields
    show_change_link = True
    verbose_name_plural = "ImageNet classes (move one on its own page or in the ImageNet classes list)"

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(TaxonomyCategory)
class TaxonomyCategoryAdmin(AuditedChangesMixin, admin.ModelAdmin):
    audit_action = AuditAction.TAXONOMY_CHANGED
    list_display = ("name", "position", "class_count", "description")
    list_editable = ("position",)
    search_fields = ("name",)
    inlines = [TaxonomyClassInline]

    @admin.display(description="ImageNet classes")
    def class_count(self, obj):
        return obj.class_count

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(class_count=Count("imagenet_classes"))


@admin.register(ImageNetClass)
class ImageNetClassAdmin(admin.ModelAdmin):
    """The 1000 classes are fixed; only the category each counts towards is edited (audited)."""

    list_display = ("index", "name", "wnid", "category", "source")
    list_editable = ("category",)
    list_filter = ("category",)
    search_fields = ("name", "wnid")
    list_per_page = 100
    list_select_related = ("category",)
    fields = ("index", "wnid", "name", "category", "source")
    readonly_fields = ("index", "wnid", "name", "source")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        taxonomy_class_move(imagenet_class=obj, category=obj.category, actor=request.user)


@admin.register(HashBank)
class HashBankAdmin(AuditedChangesMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "action",
        "max_distance",
        "enabled",
        "retro_days",
        "flood_limit",
        "entry_count",
        "created_at",
    )
    list_editable = ("action", "max_distance", "enabled", "retro_days", "flood_limit")

    @admin.display(description="entries")
    def entry_count(self, obj):
        return obj.entries.count()


@admin.register(BankedHash)
class BankedHashAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("bank", "pdq_hash", "upload", "added_by", "note", "created_at", "quarantined_at", "confirmed_at")
    list_filter = ("bank", ("quarantined_at", admin.EmptyFieldListFilter))
    search_fields = ("pdq_hash", "upload__id", "note")
    readonly_fields = (
        "bank",
        "pdq_hash",
        "upload",
        "added_by",
        "created_at",
        "quarantined_at",
        "confirmed_at",
        "confirmed_by",
        "index_version",
    )
    list_select_related = ("bank", "added_by")

    def has_add_permission(self, request):
        return False  # entries come from a rejection into a bank or the lead's banks page (/lead/banks/)

    def delete_model(self, request, obj):
        bank_hash_remove(entry=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for entry in queryset.select_related("bank"):
            bank_hash_remove(entry=entry, actor=request.user)


@admin.register(UploaderLimit)
class UploaderLimitAdmin(AuditedChangesMixin, admin.ModelAdmin):
    """Other upload limits for one signed-in person (defaults: USER_UPLOAD_* settings)."""

    list_display = ("user", "burst_limit", "hourly_limit", "daily_quota", "note", "updated_at")
    search_fields = ("user__username", "note")
    raw_id_fields = ("user",)


@admin.register(BankRetroSearch)
class BankRetroSearchAdmin(admin.ModelAdmin):
    """Retroactive searches and their progress; started by adding entries."""

    list_display = ("pk", "bank", "status", "searched", "total", "matched", "since", "created_at", "finished_at")
    list_filter = ("status", "bank")
    readonly_fields = [f.name for f in BankRetroSearch._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class PeriodicTaskAdmin(beat_admin.PeriodicTaskAdmin):
    """django-celery-beat's task admin, whose actions (enable, disable,
    toggle, run now) declare no permission and so were open to anyone who
    may view the list: here each needs the right to change a task."""

    @admin.action(description="Enable selected tasks", permissions=["change"])
    def enable_tasks(self, request, queryset):
        return super().enable_tasks(request, queryset)

    @admin.action(description="Disable selected tasks", permissions=["change"])
    def disable_tasks(self, request, queryset):
        return super().disable_tasks(request, queryset)

    @admin.action(description="Toggle activity of selected tasks", permissions=["change"])
    def toggle_tasks(self, request, queryset):
        return super().toggle_tasks(request, queryset)

    @admin.action(description="Run selected tasks", permissions=["change"])
    def run_tasks(self, request, queryset):
        return super().run_tasks(request, queryset)


if admin.site.is_registered(PeriodicTask):
    admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, PeriodicTaskAdmin)


class AccessAttemptAdmin(axes_admin.AccessAttemptAdmin):
    """django-axes's sign-in attempts: cleaning them up lifts lockouts, so it
    needs the right to delete attempts, not only to view them."""

    @admin.action(description="Clean up expired attempts", permissions=["delete"])
    def cleanup_expired_attempts(self, request, queryset):
        return super().cleanup_expired_attempts(request, queryset)


if admin.site.is_registered(AccessAttempt):
    admin.site.unregister(AccessAttempt)
    admin.site.register(AccessAttempt, AccessAttemptAdmin)


# Custom categories (issue 15) and text in images (issue 27) register their own admin pages.
from moderation import category_admin, text_admin  # noqa: E402, F401

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from classifier.models import ModelVersion


class UploadStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    IN_REVIEW = "in_review", "In review"
    APPEALED = "appealed", "Appealed"
    FAILED = "failed", "Failed"


# The only moves an upload may make. Anything else is a bug and raises.
UPLOAD_TRANSITIONS: dict[str, frozenset[str]] = {
    UploadStatus.PENDING: frozenset({UploadStatus.PROCESSING, UploadStatus.FAILED}),
    UploadStatus.PROCESSING: frozenset(
        {UploadStatus.APPROVED, UploadStatus.REJECTED, UploadStatus.IN_REVIEW, UploadStatus.FAILED, UploadStatus.PENDING}
    ),
    UploadStatus.IN_REVIEW: frozenset({UploadStatus.APPROVED, UploadStatus.REJECTED}),
    UploadStatus.APPROVED: frozenset(),
    # A rejection may be appealed once; the appeal ends approved or rejected.
    UploadStatus.REJECTED: frozenset({UploadStatus.APPEALED}),
    UploadStatus.APPEALED: frozenset({UploadStatus.APPROVED, UploadStatus.REJECTED}),
    UploadStatus.FAILED: frozenset(),
}
FINAL_STATUSES = frozenset({UploadStatus.APPROVED, UploadStatus.REJECTED, UploadStatus.FAILED})
# Statuses after which the worker has nothing more to do.
SETTLED_STATUSES = FINAL_STATUSES | {UploadStatus.IN_REVIEW, UploadStatus.APPEALED}
# Statuses a moderator decides.
REVIEWABLE_STATUSES = frozenset({UploadStatus.IN_REVIEW, UploadStatus.APPEALED})


class Verdict(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"
    REVIEW = "review", "Send to review"


class Partner(models.Model):
    name = models.CharField(max_length=200, unique=True)
    priority = models.SmallIntegerField(default=0, help_text="Higher comes first in the review queue.")
    burst_limit = models.PositiveIntegerField(default=20, help_text="Requests per key in any 10 seconds.")
    sustained_limit = models.PositiveIntegerField(default=600, help_text="Requests per key in any hour.")
    daily_quota = models.PositiveIntegerField(default=10_000, help_text="Uploads per key per UTC day.")
    webhook_secret = models.CharField(max_length=64, blank=True, help_text="Signs webhook deliveries (HMAC-SHA256).")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class ApiKey(models.Model):
    """A partner's API key. Only a SHA-256 of the key and its prefix are kept."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(max_length=16, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.partner} / {self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


def _upload_path(instance: Upload, filename: str) -> str:
    # The client's filename never reaches the storage name.
    created = instance.created_at
    return f"uploads/{created:%Y/%m/%d}/{uuid.uuid4().hex}.{instance.extension}"


class Upload(models.Model):
    """One uploaded image: a partner's submission or a person's post."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="uploads")
    uploader = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="uploads"
    )
    external_id = models.CharField(max_length=200, blank=True)
    caption = models.TextField(blank=True, max_length=2000)
    original_filename = models.CharField(max_length=255, blank=True, help_text="As the client sent it; metadata only.")
    image = models.FileField(upload_to=_upload_path, max_length=300)
    image_format = models.CharField(max_length=8)
    content_type = models.CharField(max_length=32)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    byte_size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    pdq_hash = models.CharField(max_length=64, blank=True, help_text="PDQ perceptual hash, hex.")
    pdq_quality = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=UploadStatus.choices, default=UploadStatus.PENDING, db_index=True)
    policy_verdict = models.CharField(max_length=8, choices=Verdict.choices, blank=True)
    policy_explanation = models.JSONField(default=dict, blank=True)
    failure_reason = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    review_rank = models.FloatField(default=0.0, help_text="Queue order, highest first (moderation.queue).")
    claimed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="claims")
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    verdict_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("review_upload", "Can review uploads in the moderation queue"),
            ("view_metrics", "Can see the metrics page"),
            ("calibrate_thresholds", "Can apply calibrated thresholds"),
        ]
        indexes = [
            models.Index(fields=["status", "-review_rank", "id"], name="upload_queue_order"),
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["partner", "created_at"]),
            models.Index(fields=["uploader", "created_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "external_id"],
                condition=~models.Q(external_id=""),
                name="unique_external_id_per_partner",
            )
        ]

    def __str__(self) -> str:
        return f"upload {self.id} ({self.status})"

    @property
    def extension(self) -> str:
        return {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp"}.get(self.image_format, "bin")

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    def predictions_by_role(self) -> dict[str, Prediction]:
        """The latest prediction of each model role (uses prefetched rows when there are)."""
        found: dict[str, Prediction] = {}
        for prediction in sorted(self.predictions.all(), key=lambda p: p.created_at):
            found[prediction.model_version.role] = prediction
        return found

    @property
    def product_prediction(self) -> Prediction | None:
        return self.predictions_by_role().get("product")


class Prediction(models.Model):
    """What one model version said of one upload."""

    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="predictions")
    label = models.CharField(max_length=100)
    score = models.FloatField()
    scores = models.JSONField(help_text="Class scores by name (all classes, or the top five for ImageNet).")
    embedding = models.BinaryField(null=True, blank=True, help_text="Pooled backbone embedding, float16.")
    open_set = models.JSONField(
        default=dict, blank=True,
        help_text="Product predictions: the open-set gate's in_distribution, score, threshold, method (empty: unchecked).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["upload", "model_version"], name="one_prediction_per_model_version")
        ]

    def __str__(self) -> str:
        return f"{self.label} {self.score:.2f} ({self.model_version})"

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        return sorted(self.scores.items(), key=lambda item: item[1], reverse=True)[:k]

    @property
    def in_distribution(self) -> bool:
        """False when the open-set gate found the image unlike the product model's training data."""
        return self.open_set.get("in_distribution", True)

    def tags(self, k: int = 3) -> list[tuple[str, float]]:
        """The tags worth showing: none when the image is out of distribution."""
        return self.top(k) if self.in_distribution else []

    @property
    def shown_tags(self) -> list[tuple[str, float]]:
        return self.tags()

    @property
    def withheld_reason(self) -> str:
        """Why no product tag is shown, for people ("" when tags are shown)."""
        if self.in_distribution:
            return ""
        return (f"not a product shot the model knows: out-of-distribution score "
                f"{self.open_set.get('score', 0):.3f} > threshold {self.open_set.get('threshold', 0):.3f}")


class FlagKind(models.TextChoices):
    PROHIBITED_CLASS = "prohibited_class", "Prohibited product class"
    ADULT = "adult", "Adult content"
    PROHIBITED_GOODS = "prohibited_goods", "Prohibited goods"
    HASH_MATCH = "hash_match", "Known-bad hash match"


class Flag(models.Model):
    """A content flag and the reason for it: which model, class and score, or
    which bank entry at what distance."""

    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="flags")
    kind = models.CharField(max_length=32, choices=FlagKind.choices)
    category = models.CharField(max_length=100)
    score = models.FloatField(help_text="The model's score, or the Hamming distance for hash matches.")
    action = models.CharField(max_length=8, choices=[("review", "Review"), ("reject", "Reject")], default="review")
    reason = models.TextField()
    detail = models.JSONField(default=dict, blank=True)
    prediction = models.ForeignKey(Prediction, null=True, blank=True, on_delete=models.CASCADE, related_name="flags")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind}:{self.category} {self.score:.2f}"


class ClassPolicy(models.Model):
    """Per-class thresholds of the policy, editable in the admin."""

    class_name = models.CharField(max_length=100, unique=True)
    approve_threshold = models.FloatField(default=0.9, help_text="Approve when this is the top class at or above this score.")
    prohibited = models.BooleanField(default=False, help_text="Uploads of this class are not allowed.")
    reject_threshold = models.FloatField(default=0.9, help_text="Reject a prohibited class at or above this score.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["class_name"]
        verbose_name_plural = "class policies"

    def __str__(self) -> str:
        return self.class_name


class FlagCategoryKind(models.TextChoices):
    ADULT = "adult", "Adult content (adult-content model)"
    GOODS = "goods", "Prohibited goods (ImageNet classes)"


class FlagCategory(models.Model):
    """A content flag with its thresholds: the adult-content score, or the sum
    of the probabilities of the ImageNet classes mapped to a goods category."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=8, choices=FlagCategoryKind.choices)
    review_threshold = models.FloatField(help_text="Send to review at or above this score.")
    reject_threshold = models.FloatField(help_text="Reject at or above this score (above 1 = never).")
    enabled = models.BooleanField(default=True)
    description = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "name"]
        verbose_name_plural = "flag categories"

    def __str__(self) -> str:
        return self.name


class ImageNetClassMapping(models.Model):
    """One ImageNet class that counts towards a prohibited-goods category."""

    category = models.ForeignKey(FlagCategory, on_delete=models.CASCADE, related_name="imagenet_classes")
    class_index = models.PositiveSmallIntegerField()
    class_name = models.CharField(max_length=100)

    class Meta:
        ordering = ["category", "class_index"]
        constraints = [models.UniqueConstraint(fields=["category", "class_index"], name="unique_class_per_category")]

    def __str__(self) -> str:
        return f"{self.class_index} {self.class_name} → {self.category}"


class BankAction(models.TextChoices):
    REVIEW = "review", "Send to review"
    REJECT = "reject", "Reject automatically"


class HashBank(models.Model):
    """A named bank of known-bad images' PDQ hashes."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    max_distance = models.PositiveSmallIntegerField(default=31, help_text="Match within this Hamming distance (of 256 bits).")
    action = models.CharField(max_length=8, choices=BankAction.choices, default=BankAction.REJECT)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class BankedHash(models.Model):
    bank = models.ForeignKey(HashBank, on_delete=models.CASCADE, related_name="entries")
    pdq_hash = models.CharField(max_length=64)
    upload = models.ForeignKey(Upload, null=True, blank=True, on_delete=models.SET_NULL, related_name="banked_hashes")
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "banked hash"
        constraints = [models.UniqueConstraint(fields=["bank", "pdq_hash"], name="unique_hash_per_bank")]

    def __str__(self) -> str:
        return f"{self.bank}: {self.pdq_hash[:16]}…"


class RejectReason(models.TextChoices):
    PROHIBITED_ITEM = "prohibited_item", "Prohibited item"
    ADULT = "adult", "Adult content"
    VIOLENCE = "violence", "Violence or gore"
    SPAM = "spam", "Spam or scam"
    OTHER = "other", "Other"


class Decision(models.Model):
    """A moderator's decision on an upload: separate from what the model said."""

    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="decisions")
    moderator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="decisions")
    prediction = models.ForeignKey(Prediction, null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions")
    verdict = models.CharField(max_length=8, choices=[(Verdict.APPROVE, "Approve"), (Verdict.REJECT, "Reject")])
    reason_code = models.CharField(max_length=32, choices=RejectReason.choices, blank=True)
    label_before = models.CharField(max_length=100, blank=True)
    label_after = models.CharField(max_length=100, blank=True)
    note = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.verdict} by {self.moderator} on {self.upload_id}"

    @property
    def corrected(self) -> bool:
        return bool(self.label_after) and self.label_after != self.label_before


class QAKind(models.TextChoices):
    BLIND = "blind", "Blind QA of an automatic approval"
    SECOND = "second", "Second, independent review"


class QAItem(models.Model):
    """A quality-assurance review: a sampled automatic approval (the moderator
    is not shown the policy's verdict) or a second review of a decided item.
    Its answer never changes the upload; it measures agreement."""

    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="qa_items")
    kind = models.CharField(max_length=8, choices=QAKind.choices)
    reference_verdict = models.CharField(max_length=8, help_text="The verdict it is compared with.")
    reference_moderator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                            on_delete=models.SET_NULL, related_name="+")
    answered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="qa_answers")
    verdict = models.CharField(max_length=8, blank=True)
    label = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["upload", "kind"], name="one_qa_item_per_kind")]

    @property
    def agrees(self) -> bool | None:
        return None if not self.verdict else self.verdict == self.reference_verdict


class ModeratorPreference(models.Model):
    """Wellness settings: how flagged images are shown to this moderator."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="moderation_preference")
    blur_flagged = models.BooleanField(default=True, help_text="Blur images flagged for adult content until revealed.")
    greyscale_flagged = models.BooleanField(default=False, help_text="Also show them in greyscale.")


class AppealStatus(models.TextChoices):
    OPEN = "open", "Open"
    UPHELD = "upheld", "Rejection upheld"
    OVERTURNED = "overturned", "Rejection overturned"


class Appeal(models.Model):
    """An uploader's (or partner's) one appeal against a rejection."""

    upload = models.OneToOneField(Upload, on_delete=models.CASCADE, related_name="appeal")
    message = models.TextField(max_length=2000)
    status = models.CharField(max_length=12, choices=AppealStatus.choices, default=AppealStatus.OPEN)
    rejected_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+", help_text="Who rejected the upload; may not decide the appeal.")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="appeals_decided")
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"appeal of {self.upload_id} ({self.status})"


class IdempotencyRecord(models.Model):
    """An Idempotency-Key a partner sent, and what it created (kept 24 hours)."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE)
    key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    upload = models.ForeignKey(Upload, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["partner", "key"], name="unique_idempotency_key")]


class WebhookEndpoint(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Gave up"


class WebhookDelivery(models.Model):
    """One event to one endpoint; retried with backoff until delivered or 24 hours old."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    upload = models.ForeignKey(Upload, null=True, on_delete=models.SET_NULL, related_name="webhook_deliveries")
    event = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at"]


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]


class AuditAction(models.TextChoices):
    UPLOAD_CREATED = "upload.created", "Upload created"
    POLICY_VERDICT = "policy.verdict", "Policy verdict"
    UPLOAD_FAILED = "upload.failed", "Upload failed"
    UPLOAD_REQUEUED = "upload.requeued", "Upload re-queued"
    REVIEW_DECIDED = "review.decided", "Review decided"
    MODEL_VERSION_STATUS = "model_version.status", "Model version status changed"
    THRESHOLDS_CALIBRATED = "thresholds.calibrated", "Thresholds calibrated"
    CLASS_POLICY_CHANGED = "class_policy.changed", "Class policy changed"
    BANK_HASH_ADDED = "bank.hash_added", "Hash added to a bank"
    APPEAL_OPENED = "appeal.opened", "Appeal opened"
    APPEAL_DECIDED = "appeal.decided", "Appeal decided"
    API_KEY_REVOKED = "api_key.revoked", "API key revoked"
    WEBHOOK_CHANGED = "webhook.changed", "Webhook endpoint changed"
    QA_ANSWERED = "qa.answered", "QA review answered"
    BANK_HASH_REMOVED = "bank.hash_removed", "Hash removed from a bank"
    PARTNER_CREATED = "partner.created", "Partner created"
    API_KEY_CREATED = "api_key.created", "API key created"


class AuditEvent(models.Model):
    """Who did what to which object, when. Rows are only ever added."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=40, choices=AuditAction.choices, db_index=True)
    target_type = models.CharField(max_length=40)
    target_id = models.CharField(max_length=64)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        who = self.actor or "system"
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {who} {self.action} {self.target_type}:{self.target_id}"

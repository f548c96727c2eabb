from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models

from classifier.facade import NO_PRODUCT, PRODUCT_TAG_ROLES, ModelRole


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
        {
            UploadStatus.APPROVED,
            UploadStatus.REJECTED,
            UploadStatus.IN_REVIEW,
            UploadStatus.FAILED,
            UploadStatus.PENDING,
        }
    ),
    UploadStatus.IN_REVIEW: frozenset({UploadStatus.APPROVED, UploadStatus.REJECTED}),
    # Back to review: its moderator undid the decision within REVIEW_UNDO_SECONDS.
    UploadStatus.APPROVED: frozenset({UploadStatus.IN_REVIEW}),
    # A rejection may be appealed once; the appeal ends approved or rejected.
    UploadStatus.REJECTED: frozenset({UploadStatus.APPEALED, UploadStatus.IN_REVIEW}),
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
    # Uploads and reads (polls, lists, appeals, webhooks) are counted apart, so
    # that polling for verdicts never stops a batch of uploads (docs/api.md, Limits).
    upload_burst_limit = models.PositiveIntegerField(default=50, help_text="Uploads per key in any 10 seconds.")
    upload_hourly_limit = models.PositiveIntegerField(default=1_000, help_text="Uploads per key in any hour.")
    burst_limit = models.PositiveIntegerField(
        default=100, help_text="Other requests (reads, polls, appeals, webhooks) per key in any 10 seconds."
    )
    sustained_limit = models.PositiveIntegerField(
        default=6_000, help_text="Other requests (reads, polls, appeals, webhooks) per key in any hour."
    )
    daily_quota = models.PositiveIntegerField(default=10_000, help_text="Uploads per key per UTC day.")
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


def _public_path(instance: Upload, filename: str) -> str:
    # Its own random name: knowing the original's key says nothing of this one.
    created = instance.created_at
    return f"public/{created:%Y/%m/%d}/{uuid.uuid4().hex}.{filename.rsplit('.', 1)[-1]}"


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
    declared_category = models.CharField(
        max_length=100,
        blank=True,
        help_text="What the partner's listing says the image shows: a product class or a taxonomy category.",
    )
    frame_count = models.PositiveIntegerField(default=1, help_text="Frames of an animation (1 for a still image).")
    public_image = models.FileField(
        upload_to=_public_path,
        max_length=300,
        blank=True,
        help_text="What non-staff are served: re-encoded, upright, without metadata (EXIF, GPS, XMP, ICC, comments).",
    )
    pdq_hash = models.CharField(max_length=64, blank=True, help_text="PDQ perceptual hash, hex.")
    pdq_quality = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=UploadStatus.choices, default=UploadStatus.PENDING, db_index=True)
    policy_verdict = models.CharField(max_length=8, choices=Verdict.choices, blank=True)
    policy_explanation = models.JSONField(default=dict, blank=True)
    failure_reason = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    review_rank = models.FloatField(default=0.0, help_text="Queue order, highest first (moderation.queue).")
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="claims"
    )
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    verdict_at = models.DateTimeField(null=True, blank=True, db_index=True)

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

    def predictions_by_role(self) -> dict[str, Prediction]:
        """The latest prediction of each model role: the one way to read an
        upload's predictions (prefetched rows when there are, as
        selectors._with_results fetches them; else one query)."""
        if "predictions" in getattr(self, "_prefetched_objects_cache", {}):
            rows = self.predictions.all()
        else:
            rows = self.predictions.select_related("model_version")
        found: dict[str, Prediction] = {}
        for prediction in sorted(rows, key=lambda p: p.created_at):
            found[prediction.model_version.role] = prediction
        return found

    @property
    def product_prediction(self) -> Prediction | None:
        """The prediction that tags this upload's products: the studio-shot
        product model's, or, where its open-set gate routed the image to the
        real-photo model, that model's (each its latest version's row)."""
        by_role = self.predictions_by_role()
        studio, photo = by_role.get(ModelRole.PRODUCT), by_role.get(ModelRole.PRODUCT_PHOTO)
        if photo is not None and (studio is None or not studio.in_distribution):
            return photo
        return studio

    @property
    def top_categories(self) -> list[tuple[str, float]]:
        """The best taxonomy categories of the photo (from its ImageNet prediction), best first."""
        prediction = self.predictions_by_role().get(ModelRole.IMAGENET)
        return prediction.top_categories() if prediction is not None else []


class PredictionQuerySet(models.QuerySet):
    def of_role(self, role: str) -> PredictionQuerySet:
        return self.filter(model_version__role=role)

    def product(self) -> PredictionQuerySet:
        """The product-tag models' predictions, studio and real-photo (filters
        across uploads; one upload's is `Upload.product_prediction`)."""
        return self.filter(model_version__role__in=PRODUCT_TAG_ROLES)


class Prediction(models.Model):
    """What one model version said of one upload."""

    objects = PredictionQuerySet.as_manager()

    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey("classifier.ModelVersion", on_delete=models.PROTECT, related_name="predictions")
    label = models.CharField(max_length=100)
    score = models.FloatField()
    scores = models.JSONField(help_text="Class scores by name (all classes, or the top five for ImageNet).")
    embedding = models.BinaryField(null=True, blank=True, help_text="Pooled backbone embedding, float16.")
    categories = models.JSONField(
        default=dict,
        blank=True,
        help_text="ImageNet backbone only: each taxonomy category's score (its classes' summed probability).",
    )
    open_set = models.JSONField(
        default=dict,
        blank=True,
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

    def top_categories(self, k: int = 3) -> list[tuple[str, float]]:
        """The k best taxonomy categories (ImageNet predictions only), ties by name."""
        return sorted((self.categories or {}).items(), key=lambda item: (-item[1], item[0]))[:k]

    @property
    def in_distribution(self) -> bool:
        """False when the open-set gate found the image unlike the product model's training data."""
        return self.open_set.get("in_distribution", True)

    def tags(self, k: int = 3) -> list[tuple[str, float]]:
        """The tags worth showing: none when no product is shown (out of
        distribution, or the real-photo model's "no product")."""
        return [tag for tag in self.top(k + 1) if tag[0] != NO_PRODUCT][:k] if self.in_distribution else []

    @property
    def shown_tags(self) -> list[tuple[str, float]]:
        return self.tags()

    @property
    def withheld_reason(self) -> str:
        """Why no product tag is shown, for people ("" when tags are shown)."""
        if self.in_distribution:
            return ""
        if self.open_set.get("reason"):
            return self.open_set["reason"]
        return (
            f"not a product shot the model knows: out-of-distribution score "
            f"{self.open_set.get('score', 0):.3f} > threshold {self.open_set.get('threshold', 0):.3f}"
        )


class FlagKind(models.TextChoices):
    PROHIBITED_CLASS = "prohibited_class", "Prohibited product class"
    ADULT = "adult", "Adult content"
    PROHIBITED_GOODS = "prohibited_goods", "Prohibited goods"
    HASH_MATCH = "hash_match", "Known-bad hash match"
    LISTING_MISMATCH = "listing_mismatch", "Listing does not show what it declares"
    CUSTOM_CATEGORY = "custom_category", "Custom category (taught from examples)"
    TEXT_TERM = "text_term", "Listed term in the image's text"
    CONTACT_DETAILS = "contact_details", "Contact details in the image"
    BLOCKED_DOMAIN = "blocked_domain", "Blocked domain in the image or its QR code"


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


def _validate_thresholds(required: dict, optional: dict | None = None, ordered: tuple[str, str] | None = None) -> None:
    from django.core.exceptions import ValidationError

    from moderation.policy import threshold_errors

    errors = threshold_errors(required=required, optional=optional or {}, ordered=ordered)
    if errors:
        raise ValidationError(errors)


class UploadFrame(models.Model):
    """One judged frame of an animated upload: where it plays, what the policy
    said of it alone. The upload's verdict is its worst frame's."""

    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="frames")
    index = models.PositiveIntegerField(help_text="The decoder's frame number.")
    timestamp_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="When a browser shows it; empty for an APNG default image."
    )
    duration_ms = models.PositiveIntegerField(default=0)
    default_image = models.BooleanField(default=False, help_text="An APNG default image, outside the animation.")
    scene_change = models.FloatField(default=0.0, help_text="Mean luminance change from the frame before (0..255).")
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    severity = models.FloatField(default=0.0, help_text="Higher is worse; the strip shows the worst first.")
    worst = models.BooleanField(default=False, help_text="The frame whose verdict the upload took.")
    label = models.CharField(max_length=100, blank=True)
    score = models.FloatField(default=0.0)
    adult_score = models.FloatField(null=True, blank=True)
    pdq_hash = models.CharField(max_length=64, blank=True)
    pdq_quality = models.PositiveSmallIntegerField(null=True, blank=True)
    reasons = models.JSONField(default=list, blank=True)
    thumbnail = models.BinaryField(
        default=b"", blank=True, help_text="A small JPEG of the frame, for the review strip."
    )

    class Meta:
        ordering = ["-severity", "index"]
        constraints = [models.UniqueConstraint(fields=["upload", "index"], name="one_row_per_upload_frame")]

    def __str__(self) -> str:
        return f"frame {self.index} of {self.upload_id}: {self.verdict}"


class ClassPolicy(models.Model):
    """Per-class thresholds of the policy, editable in the admin."""

    class_name = models.CharField(max_length=100, unique=True)
    approve_threshold = models.FloatField(
        default=0.9,
        help_text="A listing that declares this class shows it when the top product class is this one "
        "at or above this score, 0 to 1 (else: listing mismatch).",
    )
    prohibited = models.BooleanField(default=False, help_text="Uploads of this class are not allowed.")
    reject_threshold = models.FloatField(
        default=0.9,
        null=True,
        blank=True,
        help_text="Reject a prohibited class at or above this score (0 to 1); empty: never reject automatically, only review.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    def clean(self) -> None:
        _validate_thresholds({"approve_threshold": self.approve_threshold}, {"reject_threshold": self.reject_threshold})

    class Meta:
        ordering = ["class_name"]
        verbose_name_plural = "class policies"

    def __str__(self) -> str:
        return self.class_name


class TaxonomyCategory(models.Model):
    """A category of what photos show (food and drink, animals, weapons, …).
    Its score is the summed probability of its ImageNet classes."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(default=0, help_text="Order in lists.")

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "taxonomy categories"

    def __str__(self) -> str:
        return self.name


class ImageNetClass(models.Model):
    """One ImageNet-1k class and the one taxonomy category it counts towards."""

    index = models.PositiveSmallIntegerField(primary_key=True, help_text="Class index, 0 to 999.")
    wnid = models.CharField("WordNet id", max_length=9)
    name = models.CharField(max_length=100)
    category = models.ForeignKey(TaxonomyCategory, on_delete=models.PROTECT, related_name="imagenet_classes")
    source = models.CharField(
        max_length=200,
        blank=True,
        help_text="What placed it here: a WordNet synset, a reviewed hand fix, an admin edit.",
    )

    class Meta:
        ordering = ["index"]
        verbose_name = "ImageNet class"
        constraints = [models.CheckConstraint(condition=models.Q(index__lte=999), name="imagenet_class_index_range")]

    def __str__(self) -> str:
        return f"{self.index} {self.name}"


class FlagCategoryKind(models.TextChoices):
    ADULT = "adult", "Adult content (adult-content model)"
    GOODS = "goods", "Prohibited goods (a taxonomy category)"
    LISTING_MISMATCH = "listing_mismatch", "Listing mismatch (the image does not show what it declares)"
    # Text in images (moderation.text_signals): the score is the reading's confidence.
    TEXT_TERM = "text_term", "Listed term in the image's text"
    CONTACT_PHONE = "contact_phone", "Contact details: phone number"
    CONTACT_EMAIL = "contact_email", "Contact details: e-mail address"
    CONTACT_URL = "contact_url", "Contact details: URL"
    CONTACT_HANDLE = "contact_handle", "Contact details: messenger handle"
    BLOCKED_DOMAIN = "blocked_domain", "Blocked domain (text or QR code)"


class FlagCategory(models.Model):
    """A content flag with its thresholds: the adult-content score; for
    prohibited goods, the score of a taxonomy category (the summed probability
    of its ImageNet classes); for a listing mismatch, how far the image is
    from showing the declared product class or category (0 shown, 1 not)."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=FlagCategoryKind.choices)
    taxonomy_category = models.ForeignKey(
        TaxonomyCategory,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="flag_rules",
        help_text="Prohibited goods only: the taxonomy category whose score is flagged.",
    )
    review_threshold = models.FloatField(help_text="Send to review at or above this score (0 to 1).")
    reject_threshold = models.FloatField(
        null=True,
        blank=True,
        help_text="Reject at or above this score (review threshold to 1); empty: never reject automatically.",
    )
    enabled = models.BooleanField(default=True)
    description = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        _validate_thresholds(
            {"review_threshold": self.review_threshold},
            {"reject_threshold": self.reject_threshold},
            ordered=("review_threshold", "reject_threshold"),
        )
        if self.kind == FlagCategoryKind.GOODS and self.taxonomy_category_id is None:
            raise ValidationError({"taxonomy_category": "A prohibited-goods flag needs its taxonomy category."})
        if self.kind != FlagCategoryKind.GOODS and self.taxonomy_category_id is not None:
            raise ValidationError({"taxonomy_category": "Only prohibited-goods flags have a taxonomy category."})

    class Meta:
        ordering = ["kind", "name"]
        verbose_name_plural = "flag categories"
        constraints = [
            # Goods flags name their taxonomy category; no other kind has one.
            models.CheckConstraint(
                condition=(
                    models.Q(kind="goods", taxonomy_category__isnull=False)
                    | (~models.Q(kind="goods") & models.Q(taxonomy_category__isnull=True))
                ),
                name="goods_flag_has_taxonomy_category",
            )
        ]

    def __str__(self) -> str:
        return self.name


class BankAction(models.TextChoices):
    REVIEW = "review", "Send to review"
    REJECT = "reject", "Reject automatically"
    ALLOW = "allow", "Allow-list: never match (suppresses every other bank)"


class HashBank(models.Model):
    """A named bank of known-bad images' PDQ hashes."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    max_distance = models.PositiveSmallIntegerField(
        default=31, help_text="Match within this Hamming distance (of 256 bits)."
    )
    action = models.CharField(max_length=8, choices=BankAction.choices, default=BankAction.REJECT)
    enabled = models.BooleanField(default=True)
    retro_days = models.PositiveSmallIntegerField(
        default=30, help_text="When entries are added, search the uploads of the last this many days (0 = never)."
    )
    flood_limit = models.PositiveIntegerField(
        default=100, help_text="Quarantine an entry that matches more uploads than this in an hour (0 = no limit)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class BankedHash(models.Model):
    bank = models.ForeignKey(HashBank, on_delete=models.CASCADE, related_name="entries")
    pdq_hash = models.CharField(max_length=64)
    upload = models.ForeignKey(Upload, null=True, blank=True, on_delete=models.SET_NULL, related_name="banked_hashes")
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    quarantined_at = models.DateTimeField(
        null=True,
        blank=True,
        db_index=True,
        help_text="Set by the flood guard: the entry stops acting until a lead confirms it.",
    )
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True, help_text="A lead confirmed it after a flood.")
    index_version = models.BigIntegerField(
        default=0, db_index=True, help_text="HashIndexVersion when it was added: later ones are newer than a snapshot."
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "banked hash"
        verbose_name_plural = "banked hashes"
        constraints = [models.UniqueConstraint(fields=["bank", "pdq_hash"], name="unique_hash_per_bank")]
        permissions = [("confirm_bankedhash", "Can confirm a bank entry quarantined by the flood guard")]

    def __str__(self) -> str:
        return f"{self.bank}: {self.pdq_hash[:16]}…"


def _new_epoch() -> str:
    return uuid.uuid4().hex


class HashIndexVersion(models.Model):
    """One row: bumped whenever bank entries are added, so that every process
    knows, from one tiny query, when its index of the banks is behind. The
    epoch is new whenever the row is (a fresh or restored database), so a
    snapshot built for another database is never used."""

    version = models.BigIntegerField(default=0)
    epoch = models.CharField(max_length=32, default=_new_epoch)


class BankMatchSource(models.TextChoices):
    UPLOAD = "upload", "At upload"
    RETRO = "retro", "Retroactive search"


class BankMatch(models.Model):
    """An upload matched a bank entry: the flood guard counts these, and a
    retroactive match keeps the entry as its reason."""

    entry = models.ForeignKey(BankedHash, on_delete=models.CASCADE, related_name="matches")
    upload = models.ForeignKey(Upload, null=True, blank=True, on_delete=models.CASCADE, related_name="bank_matches")
    distance = models.PositiveSmallIntegerField()
    source = models.CharField(max_length=8, choices=BankMatchSource.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["entry", "created_at"])]


class RetroSearchStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class BankRetroSearch(models.Model):
    """A background search of past uploads for entries just added to a bank."""

    bank = models.ForeignKey(HashBank, on_delete=models.CASCADE, related_name="retro_searches")
    entry_ids = models.JSONField(default=list)
    since = models.DateTimeField(help_text="Uploads created at or after this are searched.")
    status = models.CharField(max_length=8, choices=RetroSearchStatus.choices, default=RetroSearchStatus.QUEUED)
    total = models.PositiveIntegerField(default=0, help_text="Uploads to search (known once it runs).")
    searched = models.PositiveIntegerField(default=0)
    matched = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "bank retro searches"

    @property
    def progress(self) -> float:
        return 1.0 if self.status == RetroSearchStatus.DONE else (self.searched / self.total if self.total else 0.0)


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
    prediction = models.ForeignKey(
        Prediction, null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions"
    )
    verdict = models.CharField(max_length=8, choices=[(Verdict.APPROVE, "Approve"), (Verdict.REJECT, "Reject")])
    reason_code = models.CharField(max_length=32, choices=RejectReason.choices, blank=True)
    label_before = models.CharField(max_length=100, blank=True)
    label_after = models.CharField(max_length=100, blank=True)
    note = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)
    undone_at = models.DateTimeField(
        null=True, blank=True, help_text="Its moderator took it back (review_undo); the upload went back to review."
    )

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
    BANK = "bank", "A settled upload a bank entry matched later"


class QAItem(models.Model):
    """A quality-assurance review: a sampled automatic approval (the moderator
    is not shown the policy's verdict) or a second review of a decided item.
    Its answer never changes the upload; it measures agreement."""

    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="qa_items")
    kind = models.CharField(max_length=8, choices=QAKind.choices)
    reference_verdict = models.CharField(max_length=8, help_text="The verdict it is compared with.")
    reference_moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="qa_answers"
    )
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

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="moderation_preference"
    )
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
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who rejected the upload; may not decide the appeal.",
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="appeals_decided"
    )
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


def new_webhook_secret() -> str:
    return secrets.token_hex(32)


class WebhookEndpoint(models.Model):
    """A partner's callback URL. Its secret signs deliveries; it is shown to the
    partner only when the endpoint is created or the secret rotated. During a
    rotation's grace period the previous secret signs as well."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    active = models.BooleanField(default=True)
    secret = models.CharField(max_length=64, default=new_webhook_secret, help_text="Signs deliveries (HMAC-SHA256).")
    previous_secret = models.CharField(max_length=64, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
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
    # Sent (signed) with every attempt, the same on retries: receivers drop an id they have seen.
    event_id = models.UUIDField(default=uuid.uuid4, editable=False, db_index=True)
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


class AttemptOutcome(models.TextChoices):
    DELIVERED = "delivered", "Delivered (2xx)"
    HTTP_ERROR = "http_error", "HTTP error status"
    REDIRECT = "redirect", "Redirect (not followed)"
    TIMEOUT = "timeout", "Deadline passed"
    REFUSED_ADDRESS = "refused_address", "Address refused"
    CONNECTION_ERROR = "connection_error", "Connection or protocol error"
    SOFT_TIME_LIMIT = "soft_time_limit", "Task time limit"
    EXCEPTION = "exception", "Unexpected error"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    outcome = models.CharField(max_length=20, choices=AttemptOutcome.choices)
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
    REVIEW_UNDONE = "review.undone", "Review decision undone"
    ROLE_CHANGED = "role.changed", "Moderator or lead role granted or removed"
    BANK_CREATED = "bank.created", "Hash bank created"
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
    ADMIN_CHANGED = "admin.changed", "Changed in the admin"
    TAXONOMY_CHANGED = "taxonomy.changed", "Taxonomy changed"
    BANK_IMPORTED = "bank.imported", "Hashes imported into a bank"
    BANK_ENTRY_QUARANTINED = "bank.entry_quarantined", "Bank entry quarantined by the flood guard"
    BANK_ENTRY_CONFIRMED = "bank.entry_confirmed", "Quarantined bank entry confirmed"
    BANK_RETRO_MATCHED = "bank.retro_matched", "Past upload matched a new bank entry"
    CATEGORY_CHANGED = "category.changed", "Custom category created or changed"
    CATEGORY_EXAMPLE_ADDED = "category.example_added", "Example added to a custom category"
    CATEGORY_EXAMPLE_REMOVED = "category.example_removed", "Example removed from a custom category"
    CATEGORY_HEAD_TRAINED = "category.head_trained", "Custom category head trained"
    CATEGORY_BACKFILL = "category.backfill", "Custom category backfill started"
    CATEGORY_TRAIN_REQUESTED = "category.train_requested", "Custom category training requested"
    CATEGORY_HEAD_CONFIRMED = "category.head_confirmed", "Custom category head confirmed live"
    BANK_EXPORTED = "bank.exported", "Bank list exported"
    TEXT_TERM_CHANGED = "text.term_changed", "Text term listed, changed or removed"
    DOMAIN_RULE_CHANGED = "text.domain_changed", "Domain blocked, allowed or unlisted"


class AuditEvent(models.Model):
    """Who did what to which object, when. Rows are only ever added: the
    database refuses UPDATE and DELETE (migration 0007), except the one update
    deleting a user makes (actor set to NULL); actor_name keeps who it was."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_name = models.CharField(max_length=150, blank=True, help_text="The actor's username when it happened.")
    action = models.CharField(max_length=40, choices=AuditAction.choices, db_index=True)
    target_type = models.CharField(max_length=40)
    target_id = models.CharField(max_length=64)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        who = self.actor_name or "system"
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {who} {self.action} {self.target_type}:{self.target_id}"


def _default_user_burst() -> int:
    return settings.USER_UPLOAD_BURST_LIMIT


def _default_user_hourly() -> int:
    return settings.USER_UPLOAD_HOURLY_LIMIT


def _default_user_daily() -> int:
    return settings.USER_UPLOAD_DAILY_QUOTA


class UploaderLimit(models.Model):
    """One signed-in person's upload limits, in place of the USER_UPLOAD_*
    defaults (as partners have theirs on Partner)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="upload_limit")
    burst_limit = models.PositiveIntegerField(default=_default_user_burst, help_text="Uploads in any 10 seconds.")
    hourly_limit = models.PositiveIntegerField(default=_default_user_hourly, help_text="Uploads in any hour.")
    daily_quota = models.PositiveIntegerField(default=_default_user_daily, help_text="Uploads per UTC day.")
    note = models.CharField(max_length=200, blank=True, help_text="Why this person has other limits.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"upload limits of {self.user}"


# Custom categories (issue 15) live in their own module.
from moderation.category_models import (  # noqa: E402, F401
    BackfillStatus,
    CategoryBackfill,
    CategoryExample,
    CategoryHead,
    CategoryKind,
    CategoryMatch,
    CustomCategory,
    ExampleSource,
    HeadStatus,
)

# Text in images (issue 27) lives in its own module.
from moderation.text_models import DomainListing, DomainRule, TermMatch, TextTerm, UploadText  # noqa: E402, F401

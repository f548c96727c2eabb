"""Custom categories taught by a lead from examples (issue 15): the category,
its examples (each pointing at an upload's stored embedding, or an imported
image's), the heads trained on them, and backfills over past uploads.

Imported at the end of moderation.models, so Django sees these as the
moderation app's models."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class CategoryKind(models.TextChoices):
    TAG = "tag", "Tag only"
    REVIEW = "review", "Flag for review"
    REJECT = "reject", "Flag to reject"


class CustomCategory(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True, max_length=2000)
    kind = models.CharField(max_length=8, choices=CategoryKind.choices, default=CategoryKind.REVIEW)
    threshold = models.FloatField(default=0.8, help_text="Tag, or flag for review, at or above this score (0 to 1).")
    reject_threshold = models.FloatField(
        null=True, blank=True, help_text="Flag-to-reject categories: reject at or above this (empty: the threshold)."
    )
    enabled = models.BooleanField(default=True)
    active_head = models.ForeignKey(
        "moderation.CategoryHead",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The newest head the gate passed: shown, dry-run, asking for confirmations; it flags only once live.",
    )
    live_head = models.ForeignKey(
        "moderation.CategoryHead",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The head a lead confirmed after its dry run: the one workers serve.",
    )
    examples_changed_at = models.DateTimeField(null=True, blank=True, help_text="Debounces retraining.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "custom categories"
        permissions = [("manage_customcategory", "Can create custom categories and teach them from examples")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from moderation.models import _validate_thresholds

        _validate_thresholds(
            {"threshold": self.threshold},
            {"reject_threshold": self.reject_threshold},
            ("threshold", "reject_threshold"),
        )


class ExampleSource(models.TextChoices):
    REVIEW = "review", "Review page"
    GRID = "grid", "Bulk grid"
    SEARCH = "search", "Search of past uploads"
    IMPORT = "import", "Imported image"
    ADMIN = "admin", "Admin"
    CANDIDATE = "confirm", "Confirmed candidate"


class CategoryExample(models.Model):
    """A positive or negative example. The embedding is copied from the
    upload's stored ImageNet prediction (or computed for an imported image),
    with the backbone version it belongs to."""

    category = models.ForeignKey(CustomCategory, on_delete=models.CASCADE, related_name="examples")
    upload = models.ForeignKey(
        "moderation.Upload", null=True, blank=True, on_delete=models.CASCADE, related_name="category_examples"
    )
    positive = models.BooleanField(default=True)
    embedding = models.BinaryField(help_text="Pooled backbone embedding, float16.")
    backbone_version_id = models.PositiveIntegerField()
    source = models.CharField(max_length=8, choices=ExampleSource.choices)
    label = models.CharField(max_length=255, blank=True, help_text="An imported image's file name.")
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["category", "upload"], condition=models.Q(upload__isnull=False), name="one_example_per_upload"
            )
        ]

    def __str__(self) -> str:
        return f"{'+' if self.positive else '−'} {self.category} {self.upload_id or self.label}"


class HeadStatus(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    ACTIVE = "active", "Active"
    REJECTED = "rejected", "Rejected by the gate"
    RETIRED = "retired", "Retired"
    FAILED = "failed", "Failed"


class CategoryHead(models.Model):
    """One trained head of a category: its weights, held-out figures and the gate's word."""

    category = models.ForeignKey(CustomCategory, on_delete=models.CASCADE, related_name="heads")
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=HeadStatus.choices, default=HeadStatus.CANDIDATE)
    artifact = models.BinaryField(blank=True, default=b"")
    backbone_version_id = models.PositiveIntegerField(default=0)
    threshold = models.FloatField()
    metrics = models.JSONField(default=dict, blank=True)
    gate = models.JSONField(default=dict, blank=True)
    trigger = models.CharField(max_length=16, default="examples")
    dry_run = models.JSONField(
        default=dict, blank=True, help_text="What it would have flagged over recent stored embeddings."
    )
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True, help_text="When a lead put it live.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [models.UniqueConstraint(fields=["category", "version"], name="one_head_version_per_category")]

    def __str__(self) -> str:
        return f"{self.category} head v{self.version} ({self.status})"


class BackfillStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class CategoryBackfill(models.Model):
    """A category's head run over past uploads' stored embeddings."""

    category = models.ForeignKey(CustomCategory, on_delete=models.CASCADE, related_name="backfills")
    head = models.ForeignKey(CategoryHead, on_delete=models.CASCADE, related_name="backfills")
    days = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=8, choices=BackfillStatus.choices, default=BackfillStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    scanned = models.PositiveIntegerField(default=0)
    matched = models.PositiveIntegerField(default=0)
    routed = models.PositiveIntegerField(default=0, help_text="Undecided uploads given the category's flag.")
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class CategoryMatch(models.Model):
    """A past upload a backfill found: listed for a person to look at."""

    backfill = models.ForeignKey(CategoryBackfill, on_delete=models.CASCADE, related_name="matches")
    upload = models.ForeignKey("moderation.Upload", on_delete=models.CASCADE, related_name="category_matches")
    score = models.FloatField()
    status_then = models.CharField(max_length=16, help_text="The upload's status when it was matched.")
    routed = models.BooleanField(default=False, help_text="Flagged for review (it was undecided).")

    class Meta:
        ordering = ["-score"]
        constraints = [models.UniqueConstraint(fields=["backfill", "upload"], name="one_match_per_backfill")]

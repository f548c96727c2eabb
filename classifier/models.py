from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q


def _artifact_path(instance: ModelVersion, filename: str) -> str:
    return f"models/{instance.role}/{uuid.uuid4().hex}/{filename}"


class ModelRole(models.TextChoices):
    PRODUCT = "product", "Product classifier"
    IMAGENET = "imagenet", "ImageNet tagger (backbone)"
    ADULT = "adult", "Adult-content scorer"
    OPEN_SET = "open_set", "Open-set gate (are product tags meaningful?)"
    PRODUCT_PHOTO = "product_photo", "Real-photo product tagger"


# The roles whose predictions are an upload's product tags: the Fashion-MNIST
# model for the studio shots it knows, the real-photo model for the rest.
PRODUCT_TAG_ROLES = (ModelRole.PRODUCT, ModelRole.PRODUCT_PHOTO)


class ModelVersionStatus(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"
    REJECTED = "rejected", "Rejected"


class ModelVersion(models.Model):
    """One trained model: its artifacts, what it was trained on, how well it did."""

    role = models.CharField(max_length=32, choices=ModelRole.choices, default=ModelRole.PRODUCT)
    architecture = models.CharField(max_length=64)
    class_names = models.JSONField()
    status = models.CharField(max_length=16, choices=ModelVersionStatus.choices, default=ModelVersionStatus.CANDIDATE)
    status_reason = models.TextField(blank=True)
    artifact = models.FileField(upload_to=_artifact_path, help_text="TFLite flatbuffer that serves.")
    keras_artifact = models.FileField(upload_to=_artifact_path, blank=True, help_text="Keras model, for warm starts.")
    metrics = models.JSONField(default=dict, blank=True, help_text="Evaluation on the test split.")
    training = models.JSONField(default=dict, blank=True, help_text="Epochs, data counts, seconds.")
    gate = models.JSONField(default=dict, blank=True, help_text="The gate's figures, when a run produced it.")
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("promote_modelversion", "Can promote and roll back model versions")]
        constraints = [
            models.UniqueConstraint(fields=["role"], condition=Q(status="active"), name="one_active_version_per_role")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return f"{self.role}-v{self.pk}" if self.pk else f"{self.role}-new"

    @property
    def accuracy(self) -> float | None:
        return self.metrics.get("accuracy")

    @property
    def macro_f1(self) -> float | None:
        return self.metrics.get("macro_f1")


class ExampleSource(models.TextChoices):
    CORRECTION = "correction", "Moderator correction"
    CONFIRMATION = "confirmation", "Moderator confirmation"


class TrainingExample(models.Model):
    """A labelled image for retraining, pointing at the stored original."""

    image_name = models.CharField(max_length=500, help_text="Storage name of the image.")
    label = models.CharField(max_length=100)
    source = models.CharField(max_length=16, choices=ExampleSource.choices)
    reference = models.CharField(max_length=100, unique=True, help_text="What produced it, e.g. upload:<id>.")
    holdout = models.BooleanField(
        default=False, db_index=True, help_text="Kept for the gate's evaluation; never trained on."
    )
    role = models.CharField(
        max_length=32,
        choices=[(r.value, r.label) for r in PRODUCT_TAG_ROLES],
        default=ModelRole.PRODUCT,
        db_index=True,
        help_text="The model it trains: the studio-shot product model, or the real-photo one.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.label} ({self.source}, {self.role}) {self.reference}"


class TrainingRunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


UNFINISHED_RUN_STATUSES = (TrainingRunStatus.QUEUED, TrainingRunStatus.RUNNING)


class TrainingTrigger(models.TextChoices):
    MANUAL = "manual", "Manual"
    THRESHOLD = "threshold", "Enough new examples"
    SCHEDULE = "schedule", "Scheduled"
    UPGRADE = "upgrade", "Stronger architecture after bootstrap"


class TrainingRun(models.Model):
    """One retraining run: what it trained on, how long it took, what the gate said."""

    role = models.CharField(max_length=32, choices=ModelRole.choices, default=ModelRole.PRODUCT)
    status = models.CharField(max_length=16, choices=TrainingRunStatus.choices, default=TrainingRunStatus.QUEUED)
    trigger = models.CharField(max_length=16, choices=TrainingTrigger.choices, default=TrainingTrigger.MANUAL)
    base_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs_started_from"
    )
    candidate = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="produced_by_runs"
    )
    promoted = models.BooleanField(default=False)
    architecture = models.CharField(
        max_length=64,
        blank=True,
        help_text="Train this architecture from scratch; blank: warm-start from the active version.",
    )
    progress = models.JSONField(default=dict, blank=True, help_text="Epoch k of n and seconds so far, while it trains.")
    data = models.JSONField(default=dict, blank=True, help_text="Counts of base examples and corrections, id range.")
    timings = models.JSONField(default=dict, blank=True)
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Two runs never overlap: at most one queued or running run per role.
            models.UniqueConstraint(
                fields=["role"], condition=Q(status__in=["queued", "running"]), name="one_unfinished_run_per_role"
            )
        ]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.status})"

    @property
    def progress_display(self) -> str:
        """'epoch 3 of 40, 2 min 5 s' while it trains (or as it ended)."""
        if not self.progress:
            return "waiting for the training worker" if self.status == TrainingRunStatus.QUEUED else ""
        minutes, seconds = divmod(int(self.progress.get("seconds", 0)), 60)
        return f"epoch {self.progress.get('epoch')} of {self.progress.get('epochs')}, {minutes} min {seconds} s"

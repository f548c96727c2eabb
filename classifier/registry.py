"""The model registry: services that record and activate model versions."""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from classifier.ml.training import TrainedModel
from classifier.models import ModelRole, ModelVersion, ModelVersionStatus


def active_version(role: str = ModelRole.PRODUCT) -> ModelVersion | None:
    return ModelVersion.objects.filter(role=role, status=ModelVersionStatus.ACTIVE).first()


def active_version_id(role: str = ModelRole.PRODUCT) -> int | None:
    return (
        ModelVersion.objects.filter(role=role, status=ModelVersionStatus.ACTIVE)
        .values_list("pk", flat=True)
        .first()
    )


@transaction.atomic
def model_version_register(
    *, trained: TrainedModel, role: str = ModelRole.PRODUCT, training_info: dict | None = None
) -> ModelVersion:
    """Store a trained model's artifacts and figures as a candidate version."""
    version = ModelVersion(
        role=role,
        architecture=trained.architecture,
        class_names=trained.class_names,
        metrics=trained.report,
        training={
            "epochs": trained.epochs,
            "train_seconds": round(trained.train_seconds, 2),
            "train_examples": trained.train_examples,
            **(training_info or {}),
        },
    )
    version.artifact.save("model.tflite", ContentFile(trained.tflite_bytes), save=False)
    version.keras_artifact.save("model.keras", ContentFile(trained.keras_bytes), save=False)
    version.save()
    return version


@transaction.atomic
def model_version_activate(*, version: ModelVersion, reason: str = "") -> ModelVersion:
    """Make `version` the one active version of its role; the previous one retires."""
    locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
    previous = (
        ModelVersion.objects.select_for_update()
        .filter(role=locked.role, status=ModelVersionStatus.ACTIVE)
        .exclude(pk=locked.pk)
    )
    previous.update(status=ModelVersionStatus.RETIRED)
    locked.status = ModelVersionStatus.ACTIVE
    locked.status_reason = reason
    locked.activated_at = timezone.now()
    locked.save(update_fields=["status", "status_reason", "activated_at"])
    return locked

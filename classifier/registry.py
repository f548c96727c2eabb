"""The model registry: services that record and activate model versions."""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from classifier.ml.training import TrainedModel
from classifier.models import ModelRole, ModelVersion, ModelVersionStatus
from classifier.signals import model_version_status_changed


class RegistryError(ValueError):
    """A registry operation that does not apply to this version."""


def _set_status(version: ModelVersion, status: str, *, actor=None, reason: str = "") -> None:
    previous = version.status
    version.status = status
    version.status_reason = reason
    fields = ["status", "status_reason"]
    if status == ModelVersionStatus.ACTIVE:
        version.activated_at = timezone.now()
        fields.append("activated_at")
    version.save(update_fields=fields)
    model_version_status_changed.send(
        sender=ModelVersion, version=version, previous_status=previous, actor=actor, reason=reason
    )


def active_version(role: str = ModelRole.PRODUCT) -> ModelVersion | None:
    return ModelVersion.objects.filter(role=role, status=ModelVersionStatus.ACTIVE).first()


def training_runs_recent(*, limit: int = 5) -> list:
    """The latest training runs with their versions, for the metrics page."""
    from classifier.models import TrainingRun

    return list(TrainingRun.objects.select_related("base_version", "candidate").order_by("-created_at")[:limit])


def active_version_id(role: str = ModelRole.PRODUCT) -> int | None:
    return ModelVersion.objects.filter(role=role, status=ModelVersionStatus.ACTIVE).values_list("pk", flat=True).first()


@transaction.atomic
def model_version_create(
    *,
    role: str,
    architecture: str,
    class_names: list[str],
    artifact: bytes,
    artifact_name: str = "model.tflite",
    keras_bytes: bytes | None = None,
    metrics: dict | None = None,
    training: dict | None = None,
    gate: dict | None = None,
) -> ModelVersion:
    """Store a model's artifacts and figures as a candidate version."""
    version = ModelVersion(
        role=role,
        architecture=architecture,
        class_names=list(class_names),
        metrics=metrics or {},
        training=training or {},
        gate=gate or {},
    )
    version.artifact.save(artifact_name, ContentFile(artifact), save=False)
    if keras_bytes:
        version.keras_artifact.save("model.keras", ContentFile(keras_bytes), save=False)
    version.save()
    return version


def model_version_register(
    *, trained: TrainedModel, role: str = ModelRole.PRODUCT, training_info: dict | None = None, gate: dict | None = None
) -> ModelVersion:
    """Store a trained model as a candidate version."""
    return model_version_create(
        role=role,
        architecture=trained.architecture,
        class_names=trained.class_names,
        artifact=trained.tflite_bytes,
        keras_bytes=trained.keras_bytes,
        metrics=trained.report,
        training={
            "epochs": trained.epochs,
            "train_seconds": round(trained.train_seconds, 2),
            "train_examples": trained.train_examples,
            **(training_info or {}),
        },
        gate=gate,
    )


@transaction.atomic
def model_version_activate(*, version: ModelVersion, actor=None, reason: str = "") -> ModelVersion:
    """Make `version` the one active version of its role; the previous one retires.

    Serves both promotion (of a candidate) and rollback (to a retired version).
    """
    locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
    if locked.status == ModelVersionStatus.ACTIVE:
        return locked
    for previous in ModelVersion.objects.select_for_update().filter(role=locked.role, status=ModelVersionStatus.ACTIVE):
        _set_status(previous, ModelVersionStatus.RETIRED, actor=actor, reason=f"replaced by {locked.name}")
    _set_status(locked, ModelVersionStatus.ACTIVE, actor=actor, reason=reason)
    return locked


@transaction.atomic
def model_version_reject(*, version: ModelVersion, reason: str, actor=None) -> ModelVersion:
    locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
    if locked.status != ModelVersionStatus.CANDIDATE:
        raise RegistryError(f"{locked.name} is {locked.status}; only a candidate can be rejected")
    _set_status(locked, ModelVersionStatus.REJECTED, actor=actor, reason=reason)
    return locked


@transaction.atomic
def model_version_delete(*, version: ModelVersion, actor=None) -> None:
    """Delete a version that does not serve. The active version of a role is
    never deleted: promote or roll back to another one first."""
    locked = ModelVersion.objects.select_for_update().filter(pk=version.pk).first()
    if locked is None:
        return
    if locked.status == ModelVersionStatus.ACTIVE:
        raise RegistryError(f"{locked.name} is active; promote or roll back to another version before deleting it")
    # Recorded like any change of status (the audit row outlives the version),
    # in the same transaction: a deletion refused (PROTECT) records nothing.
    previous, locked.status = locked.status, "deleted"
    model_version_status_changed.send(
        sender=ModelVersion, version=locked, previous_status=previous, actor=actor, reason="deleted"
    )
    locked.delete()


def model_version_rollback(*, role: str = ModelRole.PRODUCT, actor=None) -> ModelVersion:
    """Bring back the version that served before the active one."""
    current = active_version(role)
    earlier = ModelVersion.objects.filter(role=role, status=ModelVersionStatus.RETIRED, activated_at__isnull=False)
    if current is not None:
        earlier = earlier.exclude(pk=current.pk)
    previous = earlier.order_by("-activated_at").first()
    if previous is None:
        raise RegistryError("there is no earlier version to roll back to")
    return model_version_activate(
        version=previous, actor=actor, reason=f"rollback from {current.name if current else 'none'}"
    )

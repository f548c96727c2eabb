"""Threshold calibration from reviewer decisions: propose, then apply (audited)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from moderation.calibration import ClassCalibration, calibrate_class
from moderation.errors import Forbidden, InvalidInput
from moderation.models import AuditAction, ClassPolicy, FlagCategory
from moderation.policy import threshold_errors
from moderation.selectors import calibration_observations
from moderation.services.audit import audit_record

CALIBRATE_PERMISSION = "moderation.calibrate_thresholds"
# Leads (staff or not) change the flag categories' thresholds on the verdict
# thresholds page; thresholds_set checks the permission of each row's model.
VERDICT_THRESHOLDS_PERMISSION = "moderation.change_flagcategory"


def thresholds_propose(
    *, target_precision: float | None = None, min_reviewed: int | None = None
) -> list[ClassCalibration]:
    target = target_precision or settings.CALIBRATION_TARGET_PRECISION
    minimum = min_reviewed or settings.CALIBRATION_MIN_REVIEWED
    reviewed, scores, total = calibration_observations()
    policies = {p.class_name: p for p in ClassPolicy.objects.all()}
    names = sorted(set(policies) | set(reviewed))
    default = ClassPolicy._meta.get_field("approve_threshold").default
    return [
        calibrate_class(
            name,
            current=policies[name].approve_threshold if name in policies else default,
            reviewed=reviewed.get(name, []),
            all_scores=scores.get(name, []),
            total_uploads=total,
            target_precision=target,
            min_reviewed=minimum,
        )
        for name in names
    ]


@transaction.atomic
def thresholds_apply(*, actor, proposals: list[ClassCalibration]) -> list[str]:
    """Set each class's approve threshold to its proposal; classes without
    one keep theirs. Returns the classes changed."""
    if not actor.has_perm(CALIBRATE_PERMISSION):
        raise Forbidden("Only leads may apply calibrated thresholds.")
    changed = {}
    for proposal in proposals:
        if proposal.proposed is None:
            continue
        errors = threshold_errors(required={"approve_threshold": proposal.proposed})
        if errors:
            raise InvalidInput(
                f"{proposal.class_name}: {errors['approve_threshold']}", code="invalid_threshold", detail=errors
            )
        policy, _ = ClassPolicy.objects.select_for_update().get_or_create(class_name=proposal.class_name)
        if policy.approve_threshold == proposal.proposed:
            continue
        changed[proposal.class_name] = {
            "from": policy.approve_threshold,
            "to": proposal.proposed,
            "precision": proposal.precision,
            "coverage": proposal.coverage,
            "reviewed": proposal.reviewed,
        }
        policy.approve_threshold = proposal.proposed
        policy.save(update_fields=["approve_threshold", "updated_at"])
    if changed:
        audit_record(
            actor=actor,
            action=AuditAction.THRESHOLDS_CALIBRATED,
            target_type=ClassPolicy._meta.label_lower,
            target_id="calibration",
            data={"changes": changed},
        )
    return sorted(changed)


THRESHOLD_FIELDS = {
    ClassPolicy: ("approve_threshold", "reject_threshold", "prohibited"),
    FlagCategory: ("review_threshold", "reject_threshold", "enabled"),
}


@transaction.atomic
def thresholds_set(*, target: ClassPolicy | FlagCategory, actor, values: dict) -> ClassPolicy | FlagCategory:
    """Set a class policy's or a flag category's thresholds by hand. Each is
    a score in 0..1, a reject threshold may be None ("never"), and a review
    threshold may not be above the reject threshold; refused otherwise
    (nothing saved). Audited with the values before and after."""
    model = type(target)
    if not actor.has_perm(f"moderation.change_{model._meta.model_name}"):
        raise Forbidden("You may not change thresholds.")
    unknown = set(values) - set(THRESHOLD_FIELDS[model])
    if unknown:
        raise InvalidInput(f"Not a threshold: {', '.join(sorted(unknown))}.", code="invalid_threshold")
    row = model.objects.select_for_update().get(pk=target.pk)
    before = {name: getattr(row, name) for name in values}
    for name, value in values.items():
        setattr(row, name, value)
    try:
        row.full_clean()
    except ValidationError as exc:
        raise InvalidInput(
            "These thresholds are not valid.",
            code="invalid_threshold",
            detail={name: " ".join(errors) for name, errors in exc.message_dict.items()},
        ) from None
    row.save()
    audit_record(
        actor=actor,
        action=AuditAction.CLASS_POLICY_CHANGED,
        target=row,
        data={
            "op": "change",
            "fields": {name: str(value) for name, value in values.items()},
            "before": {name: value for name, value in before.items()},
        },
    )
    return row

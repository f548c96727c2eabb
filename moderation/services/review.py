"""A moderator's decision on an upload in review."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from classifier.services import training_example_record
from moderation.errors import Conflict, Forbidden, InvalidInput, NotFound
from moderation.models import (
    REVIEWABLE_STATUSES,
    Appeal,
    AppealStatus,
    AuditAction,
    Decision,
    HashBank,
    RejectReason,
    Upload,
    UploadStatus,
    Verdict,
)
from moderation.services.audit import audit_record
from moderation.services.banks import bank_hash_add
from moderation.services.qa import qa_sample_decision
from moderation.services.uploads import upload_transition
from moderation.services.webhooks import webhooks_notify

REVIEW_PERMISSION = "moderation.review_upload"


def review_decide(
    *,
    upload_id,
    moderator,
    verdict: str,
    label: str = "",
    reason_code: str = "",
    note: str = "",
    bank_id: int | None = None,
) -> Decision:
    """Approve or reject an upload in review, optionally correcting its label.

    The decision and its audit row are written together. A decision that
    carries a label (a correction, or the confirmation of the predicted label
    on approval) becomes a training example for the next retraining run. A
    rejection may add the image's hash to a known-bad bank.
    """
    if not moderator.has_perm(REVIEW_PERMISSION):
        raise Forbidden("Only moderators may decide uploads.")
    if verdict not in (Verdict.APPROVE, Verdict.REJECT):
        raise InvalidInput(f"Unknown verdict {verdict!r}.", code="invalid_verdict")
    if reason_code and reason_code not in RejectReason.values:
        raise InvalidInput(f"Unknown reason code {reason_code!r}.", code="invalid_reason_code")
    if verdict == Verdict.REJECT and not reason_code:
        reason_code = RejectReason.OTHER

    with transaction.atomic():
        upload = Upload.objects.select_for_update().filter(pk=upload_id).first()
        if upload is None:
            raise NotFound("No such upload.")
        if upload.status not in REVIEWABLE_STATUSES:
            raise Conflict(f"The upload is {upload.get_status_display().lower()}, not in review.", code="not_in_review")
        if upload.claimed_by_id and upload.claimed_by_id != moderator.pk and upload.claimed_until > timezone.now():
            raise Conflict(f"{upload.claimed_by} is reviewing this item.", code="claimed_by_other")
        appeal = Appeal.objects.filter(upload=upload).first() if upload.status == UploadStatus.APPEALED else None
        if appeal is not None and appeal.rejected_by_id == moderator.pk:
            raise Forbidden("An appeal is decided by a moderator other than the one who rejected the upload.",
                            code="same_moderator")
        prediction = upload.predictions.select_related("model_version").filter(model_version__role="product").first()
        # Out of distribution the model's label is no tag at all: approving
        # must not turn it into a confirmed training example.
        label_before = prediction.label if prediction and prediction.in_distribution else ""
        known = prediction.model_version.class_names if prediction else []
        if label and known and label not in known:
            raise InvalidInput(f"Unknown label {label!r}.", code="invalid_label", detail={"labels": known})
        label_after = label or (label_before if verdict == Verdict.APPROVE else "")
        decision = Decision.objects.create(
            upload=upload,
            moderator=moderator,
            prediction=prediction,
            verdict=verdict,
            reason_code=reason_code if verdict == Verdict.REJECT else "",
            label_before=label_before,
            label_after=label_after,
            note=note[:2000],
        )
        upload_transition(upload, UploadStatus.APPROVED if verdict == Verdict.APPROVE else UploadStatus.REJECTED)
        upload.claimed_by, upload.claimed_until = None, None
        upload.save(update_fields=["status", "verdict_at", "updated_at", "claimed_by", "claimed_until"])
        qa_sample_decision(upload=upload, decision=decision)
        if appeal is not None:
            appeal.status = AppealStatus.OVERTURNED if verdict == Verdict.APPROVE else AppealStatus.UPHELD
            appeal.decided_by = moderator
            appeal.decided_at = timezone.now()
            appeal.save(update_fields=["status", "decided_by", "decided_at"])
            audit_record(actor=moderator, action=AuditAction.APPEAL_DECIDED, target=upload,
                         data={"appeal": appeal.pk, "outcome": appeal.status})
        webhooks_notify(upload=upload, event="appeal.decided" if appeal is not None else "upload.decided")
        example = None
        if label_after:
            example = training_example_record(
                image_name=upload.image.name,
                label=label_after,
                corrected=decision.corrected,
                reference=f"upload:{upload.pk}",
            )
        audit_record(
            actor=moderator,
            action=AuditAction.REVIEW_DECIDED,
            target=upload,
            data={
                "decision": decision.pk,
                "verdict": verdict,
                "reason_code": decision.reason_code,
                "label_before": label_before,
                "label_after": label_after,
                "training_example": example.pk if example else None,
            },
        )
        if bank_id and verdict == Verdict.REJECT:
            bank = HashBank.objects.filter(pk=bank_id, enabled=True).first()
            if bank is None:
                raise InvalidInput("No such hash bank.", code="invalid_bank")
            bank_hash_add(bank=bank, upload=upload, actor=moderator, note=f"rejected: {decision.reason_code}")
    return decision

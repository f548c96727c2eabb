"""A moderator's decision on an upload in review."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from classifier.facade import (
    FASHION_MNIST_CLASSES,
    PHOTO_PRODUCT_CLASSES,
    ModelRole,
    training_example_record,
    training_example_withdraw,
)
from moderation.errors import ApplicationError, Conflict, Forbidden, InvalidInput, NotFound
from moderation.models import (
    REVIEWABLE_STATUSES,
    Appeal,
    AppealStatus,
    AuditAction,
    BankAction,
    BankedHash,
    Decision,
    FlagKind,
    HashBank,
    QAItem,
    QAKind,
    RejectReason,
    Upload,
    UploadStatus,
    Verdict,
)
from moderation.services.audit import audit_record
from moderation.services.banks import bank_hash_add, bank_hash_remove
from moderation.services.duties import duties_check
from moderation.services.lifecycle import upload_lock, upload_locked, upload_save, upload_transition
from moderation.services.qa import qa_sample_decision
from moderation.services.queue import claim_held_by_other, queue_claim
from moderation.services.webhooks import webhooks_cancel_unsent

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

    with upload_locked(upload_id) as upload:
        if upload is None:
            raise NotFound("No such upload.")
        if upload.status not in REVIEWABLE_STATUSES:
            raise Conflict(f"The upload is {upload.get_status_display().lower()}, not in review.", code="not_in_review")
        if claim_held_by_other(upload, moderator):
            raise Conflict(f"{upload.claimed_by} is reviewing this item.", code="claimed_by_other")
        duties_check(upload=upload, moderator=moderator)
        appeal = Appeal.objects.filter(upload=upload).first() if upload.status == UploadStatus.APPEALED else None
        prediction = upload.product_prediction
        # Out of distribution the model's label is no tag at all: approving
        # must not turn it into a confirmed training example.
        label_before = prediction.label if prediction and prediction.tags() else ""
        known = review_labels() if prediction else []
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
        if appeal is not None:
            appeal.status = AppealStatus.OVERTURNED if verdict == Verdict.APPROVE else AppealStatus.UPHELD
            appeal.decided_by = moderator
            appeal.decided_at = timezone.now()
            appeal.save(update_fields=["status", "decided_by", "decided_at"])
        upload_transition(upload, UploadStatus.APPROVED if verdict == Verdict.APPROVE else UploadStatus.REJECTED)
        upload.claimed_by, upload.claimed_until = None, None
        # Publishes the decision (webhooks with the appeal's outcome); one that
        # may be undone reaches the partner after its undo window.
        upload_save(upload, publish_delay=0 if appeal is not None else undo_publish_delay())
        qa_sample_decision(upload=upload, decision=decision)
        if appeal is not None:
            audit_record(
                actor=moderator,
                action=AuditAction.APPEAL_DECIDED,
                target=upload,
                data={
                    "appeal": appeal.pk,
                    "outcome": appeal.status,
                    **(_unbank_overturned(upload, moderator) if verdict == Verdict.APPROVE else {}),
                },
            )
        example = None
        if label_after:
            example = training_example_record(
                image_name=str(upload.image.name),
                label=label_after,
                corrected=decision.corrected,
                reference=f"upload:{upload.pk}",
                role=example_role(prediction, label_after),
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
            # An allow-list takes hashes that must never match, not rejected images.
            bank = HashBank.objects.filter(pk=bank_id, enabled=True).exclude(action=BankAction.ALLOW).first()
            if bank is None:
                raise InvalidInput("No such hash bank.", code="invalid_bank")
            bank_hash_add(bank=bank, upload=upload, actor=moderator, note=f"rejected: {decision.reason_code}")
    return decision


# The webhooks of an undoable decision wait this much longer than its undo
# window, so that an undo at the window's last moment still finds them unsent.
UNDO_PUBLISH_MARGIN_SECONDS = 5


def undo_publish_delay() -> float:
    window = settings.REVIEW_UNDO_SECONDS
    return float(window + UNDO_PUBLISH_MARGIN_SECONDS) if window > 0 else 0.0


def review_undo(*, decision_id, moderator) -> Decision:
    """Take back one's own last decision on an item in review, within
    REVIEW_UNDO_SECONDS: the upload goes back to review, held by the same
    moderator to decide again (to revise), and what the decision did is
    undone with it: its webhooks (not sent yet: they wait out the window),
    its training example, the bank entries it added, its unanswered second
    review. The decision row stays, marked undone, and the undo is audited.
    An appeal's outcome is final and not undone here."""
    if not moderator.has_perm(REVIEW_PERMISSION):
        raise Forbidden("Only moderators may undo decisions.")
    upload_id = Decision.objects.filter(pk=decision_id).values_list("upload_id", flat=True).first()
    if upload_id is None:
        raise NotFound("No such decision.", code="decision_not_found")
    with upload_locked(upload_id) as upload:
        assert upload is not None  # a decision's upload is deleted with it
        decision = Decision.objects.select_for_update().get(pk=decision_id)
        if decision.moderator_id != moderator.pk:
            raise Forbidden("Only the moderator who made a decision may undo it.", code="not_your_decision")
        if decision.undone_at is not None:
            raise Conflict("This decision was undone already.", code="already_undone")
        if Appeal.objects.filter(upload=upload).exists():
            raise Conflict("An appealed upload's decisions are final.", code="undo_not_allowed")
        latest = upload.decisions.filter(undone_at__isnull=True).order_by("-created_at", "-pk").first()
        decided = UploadStatus.APPROVED if decision.verdict == Verdict.APPROVE else UploadStatus.REJECTED
        if latest != decision or upload.status != decided:
            raise Conflict("Only the last decision on an upload can be undone.", code="undo_not_allowed")
        window = settings.REVIEW_UNDO_SECONDS
        now = timezone.now()
        if now - decision.created_at > timedelta(seconds=window):
            raise Conflict(f"A decision can be undone for {window} seconds; this one is older.", code="undo_expired")
        decision.undone_at = now
        decision.save(update_fields=["undone_at"])
        upload_transition(upload, UploadStatus.IN_REVIEW)
        cancelled = webhooks_cancel_unsent(upload=upload)
        withdrawn = bool(decision.label_after) and training_example_withdraw(reference=f"upload:{upload.pk}")
        removed = []
        for entry in BankedHash.objects.filter(upload=upload).select_related("bank"):
            removed.append(entry.pk)
            bank_hash_remove(entry=entry, actor=moderator)
        QAItem.objects.filter(upload=upload, kind=QAKind.SECOND, answered_at__isnull=True).delete()
        audit_record(
            actor=moderator,
            action=AuditAction.REVIEW_UNDONE,
            target=upload,
            data={
                "decision": decision.pk,
                "verdict": decision.verdict,
                "reason_code": decision.reason_code,
                "webhooks_cancelled": cancelled,
                "training_example_withdrawn": withdrawn,
                "bank_entries_removed": removed,
            },
        )
    queue_claim(moderator=moderator, upload_id=upload.pk)  # theirs to decide again
    return decision


def _unbank_overturned(upload: Upload, moderator) -> dict:
    """An overturned rejection takes back the bank entries it created (each
    removal audited), so the same image is not rejected again automatically.
    Entries of other uploads that this one matched stay: they are other
    decisions; the audit row names them for a lead to look at."""
    removed = []
    for entry in BankedHash.objects.filter(upload=upload).select_related("bank"):
        removed.append(entry.pk)
        bank_hash_remove(entry=entry, actor=moderator)
    matched = sorted({f.detail.get("entry_id") for f in upload.flags.filter(kind=FlagKind.HASH_MATCH)} - {None})
    return {"bank_entries_removed": removed, "bank_entries_matched": matched}


BULK_LIMIT = 200


def review_labels() -> list[str]:
    """What a moderator may label an upload: the product vocabulary (the
    seed's ten classes and the kinds real photos need) and "no product"."""
    return list(PHOTO_PRODUCT_CLASSES)


def example_role(prediction, label: str) -> str:
    """The model a moderator's label trains: the one that tagged the upload,
    and the real-photo model for any label the studio model does not know."""
    served = prediction.model_version.role if prediction is not None else ModelRole.PRODUCT
    if served == ModelRole.PRODUCT_PHOTO or label not in FASHION_MNIST_CLASSES:
        return ModelRole.PRODUCT_PHOTO
    return ModelRole.PRODUCT


@dataclass
class BulkOutcome:
    decided: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # upload id -> why


def review_decide_bulk(*, upload_ids: list[str], moderator, verdict: str, reason_code: str = "") -> BulkOutcome:
    """Decide many low-risk items at once: only what the bulk grid may show
    (selectors.low_risk_queryset: in review, no flag, no appeal, not held by
    someone else, not one's own). Any other id is refused, not decided. An
    empty selection is an error, not a success of nothing; a rejection
    records `reason_code` (Other when none is given)."""
    from moderation.selectors import low_risk_queryset

    if not moderator.has_perm(REVIEW_PERMISSION):
        raise Forbidden("Only moderators may decide uploads.")
    if verdict not in (Verdict.APPROVE, Verdict.REJECT):
        raise InvalidInput(f"Unknown verdict {verdict!r}.", code="invalid_verdict")
    if reason_code and reason_code not in RejectReason.values:
        raise InvalidInput(f"Unknown reason code {reason_code!r}.", code="invalid_reason_code")
    if not upload_ids:
        raise InvalidInput("No items were selected: tick the items to decide first.", code="nothing_selected")
    if len(upload_ids) > BULK_LIMIT:
        raise InvalidInput(f"At most {BULK_LIMIT} items at once.", code="too_many_items")
    outcome = BulkOutcome()
    for raw in upload_ids:
        try:
            upload_id = uuid.UUID(str(raw))
        except ValueError:
            outcome.refused[str(raw)] = "not an upload id"
            continue
        try:
            with transaction.atomic():
                upload_lock(upload_id)
                if not low_risk_queryset(moderator=moderator).filter(pk=upload_id).exists():
                    raise Forbidden(
                        "Only low-risk items may be decided in bulk; open this one on its own.", code="not_low_risk"
                    )
                review_decide(
                    upload_id=upload_id,
                    moderator=moderator,
                    verdict=verdict,
                    reason_code=(reason_code or RejectReason.OTHER) if verdict == Verdict.REJECT else "",
                )
        except ApplicationError as exc:
            outcome.refused[str(raw)] = exc.message
        else:
            outcome.decided.append(str(upload_id))
    return outcome

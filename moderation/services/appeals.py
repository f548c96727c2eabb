"""Appeals: an uploader (or partner) contests a rejection once; a different
moderator decides."""

from __future__ import annotations

from django.db import transaction

from moderation.errors import Conflict, InvalidInput, NotFound
from moderation.models import Appeal, AuditAction, Decision, Upload, UploadStatus, Verdict
from moderation.services.audit import audit_record
from moderation.services.lifecycle import upload_lock, upload_save, upload_transition
from moderation.services.queue import upload_set_review_rank


@transaction.atomic
def appeal_open(*, upload_id, message: str, partner=None, user=None) -> Appeal:
    """Open the one appeal of a rejected upload the caller owns."""
    message = (message or "").strip()
    if not message:
        raise InvalidInput("Say why the rejection is wrong.", code="appeal_message_missing")
    if len(message) > 2000:
        raise InvalidInput("The message is longer than 2000 characters.", code="appeal_message_too_long")
    owned = (
        Upload.objects.filter(partner=partner)
        if partner is not None
        else Upload.objects.filter(uploader_id=getattr(user, "pk", None))
    )
    upload = upload_lock(upload_id, among=owned)
    if upload is None:
        raise NotFound("No upload with this id.", code="upload_not_found")
    if Appeal.objects.filter(upload=upload).exists():
        raise Conflict("This upload was appealed already; an upload may be appealed once.", code="already_appealed")
    if upload.status != UploadStatus.REJECTED:
        raise Conflict(f"Only a rejected upload can be appealed; this one is {upload.status}.", code="not_rejected")
    last_reject = Decision.objects.filter(upload=upload, verdict=Verdict.REJECT).order_by("-created_at").first()
    appeal = Appeal.objects.create(
        upload=upload, message=message, rejected_by=last_reject.moderator if last_reject else None
    )
    upload_transition(upload, UploadStatus.APPEALED)
    product = upload.product_prediction
    upload_set_review_rank(upload, scores=product.scores if product else {}, flags=upload.flags.count())
    upload.claimed_by, upload.claimed_until = None, None
    upload_save(upload)
    audit_record(
        actor=user,
        action=AuditAction.APPEAL_OPENED,
        target=upload,
        data={"appeal": appeal.pk, "partner": partner.pk if partner else None},
    )
    return appeal

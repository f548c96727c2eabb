"""Quality assurance: blind re-reviews of automatic approvals and second,
independent reviews of moderator decisions. Their answers measure agreement
(moderator vs policy, moderator vs moderator) and never change an upload."""

from __future__ import annotations

import random

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Prefetch, Q
from django.utils import timezone

from moderation.errors import Conflict, Forbidden, InvalidInput, NotFound
from moderation.models import AuditAction, Decision, Prediction, QAItem, QAKind, Upload, Verdict
from moderation.services.audit import audit_record

_random = random.Random()


def _create(**fields) -> QAItem | None:
    try:
        with transaction.atomic():
            return QAItem.objects.create(**fields)
    except IntegrityError:
        return None


def qa_sample_approval(*, upload: Upload, rate: float | None = None) -> QAItem | None:
    """Sample an automatic approval into blind QA with probability QA_SAMPLE_RATE."""
    rate = settings.QA_SAMPLE_RATE if rate is None else rate
    if _random.random() >= rate:
        return None
    return _create(upload=upload, kind=QAKind.BLIND, reference_verdict=Verdict.APPROVE)


def qa_sample_decision(*, upload: Upload, decision: Decision, rate: float | None = None) -> QAItem | None:
    """Sample a moderator's decision for a second review with probability SECOND_REVIEW_RATE."""
    rate = settings.SECOND_REVIEW_RATE if rate is None else rate
    if _random.random() >= rate:
        return None
    return _create(
        upload=upload, kind=QAKind.SECOND, reference_verdict=decision.verdict, reference_moderator=decision.moderator
    )


def qa_open_items(*, moderator, limit: int = 50):
    """QA items this moderator may answer: never a second review of their own
    decision, never their own upload."""
    return (
        QAItem.objects.filter(answered_at__isnull=True)
        .filter(~Q(reference_moderator=moderator) | Q(reference_moderator__isnull=True))
        .exclude(upload__uploader=moderator)
        .select_related("upload", "reference_moderator")
        .prefetch_related(Prefetch("upload__predictions", queryset=Prediction.objects.select_related("model_version")))
        .order_by("created_at")[:limit]
    )


@transaction.atomic
def qa_answer(*, item_id: int, moderator, verdict: str, label: str = "") -> QAItem:
    if verdict not in (Verdict.APPROVE, Verdict.REJECT):
        raise InvalidInput(f"Unknown verdict {verdict!r}.", code="invalid_verdict")
    item = QAItem.objects.select_for_update(of=("self",)).select_related("upload").filter(pk=item_id).first()
    if item is None:
        raise NotFound("No such QA item.")
    if item.answered_at is not None:
        raise Conflict("This QA item was answered already.", code="qa_answered")
    if item.reference_moderator_id == moderator.pk:
        raise Forbidden("A second review must be made by another moderator.", code="same_moderator")
    if item.upload.uploader_id is not None and item.upload.uploader_id == moderator.pk:
        raise Forbidden("Nobody reviews their own upload, also not in QA.", code="own_upload")
    item.answered_by, item.verdict, item.label, item.answered_at = moderator, verdict, label, timezone.now()
    item.save(update_fields=["answered_by", "verdict", "label", "answered_at"])
    audit_record(
        actor=moderator,
        action=AuditAction.QA_ANSWERED,
        target=item.upload,
        data={"qa_item": item.pk, "kind": item.kind, "verdict": verdict, "agrees": item.agrees},
    )
    return item

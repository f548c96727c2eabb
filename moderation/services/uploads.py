"""Writes of an upload's life: creation, classification, failure, re-queueing."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from classifier.contracts import FrameAnalysis, ImageAnalysis
from classifier.inference import analyze_frames
from moderation.errors import Conflict, InvalidInput
from moderation.models import (
    SETTLED_STATUSES,
    AuditAction,
    Flag,
    FlagKind,
    IdempotencyRecord,
    Partner,
    Prediction,
    Upload,
    UploadStatus,
    Verdict,
)
from moderation.selectors import policy_inputs
from moderation.services.audit import audit_record
from moderation.services.backpressure import backlog_admit
from moderation.services.banks import bank_matches_record
from moderation.services.frames import frames_judge, frames_record
from moderation.services.lifecycle import upload_locked, upload_save, upload_transition
from moderation.services.qa import qa_sample_approval
from moderation.services.queue import upload_set_review_rank
from moderation.services.renditions import upload_public_image_ensure
from moderation.services.taxonomy import declared_category_clean
from moderation.services.text import upload_text_record
from moderation.taxonomy import TOP_CATEGORIES, taxonomy_in_service
from moderation.text import visible_text
from moderation.validation import validate_upload_image

logger = logging.getLogger(__name__)

VERDICT_STATUS = {
    Verdict.APPROVE: UploadStatus.APPROVED,
    Verdict.REJECT: UploadStatus.REJECTED,
    Verdict.REVIEW: UploadStatus.IN_REVIEW,
}


# A test seam, None outside tests: the fault tests set it (in a worker they
# start, through tests/e2e/slow_classify.py) to hold a classification open
# between claiming the upload and analysing it, so that they can kill the
# worker or its database connection in the middle of the task.
before_analysis: Callable[[Upload], None] | None = None


def _clean_filename(name: str) -> str:
    # Kept as metadata only (and escaped wherever shown): drop any folder part
    # and control characters, and bound the length.
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable())
    return base[:255]


def _enqueue_classification(upload_id) -> None:
    """Queue the classification. The row is already committed: if the broker is
    down, the upload stays pending and the sweeper queues it again, so the
    client's request must not fail for it."""
    from moderation.tasks import classify_upload

    try:
        classify_upload.apply_async(
            args=[str(upload_id)],
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        )
    except Exception:  # noqa: BLE001 - any broker failure; the database remembers the upload
        logger.warning("could not queue upload %s; the sweeper will", upload_id, exc_info=True)


def upload_create(
    *,
    data: bytes,
    filename: str = "",
    caption: str = "",
    external_id: str = "",
    partner: Partner | None = None,
    uploader=None,
    idempotency: tuple[str, str] | None = None,
    declared_category: str = "",
) -> Upload:
    """Validate, store and record an upload, then queue it for classification.

    `declared_category` is what a listing claims the image shows: a product
    class or a taxonomy category (any other value is refused with
    `unknown_declared_category`); an image that does not show it is flagged.
    A refused upload raises an ApplicationError and leaves no row and no file.
    `idempotency` is (key, request hash): recorded in the same transaction, so
    that of two racing identical requests exactly one creates the upload.
    Past UPLOAD_BACKLOG_LIMIT uploads waiting for the models it raises
    Overloaded (503 queue_full) before reading the image.
    """
    backlog_admit()
    caption = visible_text(caption)  # no bidirectional overrides or zero-width characters
    if len(caption) > 2000:
        raise InvalidInput("The caption is longer than 2000 characters.", code="caption_too_long")
    if len(external_id) > 200:
        raise InvalidInput("external_id is longer than 200 characters.", code="external_id_too_long")
    if partner and external_id:
        _refuse_duplicate_external_id(partner, external_id)
    declared_category = declared_category_clean(declared_category)
    info = validate_upload_image(data)
    upload = Upload(
        partner=partner,
        uploader=uploader if getattr(uploader, "is_authenticated", False) else None,
        external_id=external_id,
        caption=caption,
        declared_category=declared_category,
        original_filename=_clean_filename(filename),
        image_format=info.format,
        content_type=info.content_type,
        width=info.width,
        height=info.height,
        byte_size=info.byte_size,
        sha256=info.sha256,
        frame_count=info.frames,
        created_at=timezone.now(),
    )
    upload.image.save("original", ContentFile(data), save=False)
    try:
        with transaction.atomic():
            upload.save(force_insert=True)
            if idempotency is not None:
                # Only partners send idempotency keys (upload_create_idempotent).
                IdempotencyRecord.objects.create(
                    partner=partner,
                    key=idempotency[0],  # type: ignore[misc]
                    request_hash=idempotency[1],
                    upload=upload,
                )
            audit_record(
                actor=upload.uploader,
                action=AuditAction.UPLOAD_CREATED,
                target=upload,
                data={"partner": partner.pk if partner else None, "bytes": info.byte_size, "format": info.format},
            )
            transaction.on_commit(lambda: _enqueue_classification(upload.pk))
    except IntegrityError:
        upload.image.delete(save=False)
        if idempotency is not None:
            raise  # the idempotent wrapper resolves the race
        # Two requests with the same external_id raced past the check above.
        _refuse_duplicate_external_id(partner, external_id)
        raise
    except Exception:
        upload.image.delete(save=False)
        raise
    return upload


def _refuse_duplicate_external_id(partner: Partner | None, external_id: str) -> None:
    """409 duplicate_external_id naming the upload that has this external_id,
    so that a partner retrying a lost response can read it; nothing if none has."""
    existing = Upload.objects.filter(partner=partner, external_id=external_id).values_list("pk", flat=True).first()
    if existing is not None:
        raise Conflict(
            f"An upload with external_id {external_id!r} exists: {existing}.",
            code="duplicate_external_id",
            detail={"upload_id": str(existing)},
        )


IDEMPOTENCY_TTL = timedelta(hours=24)


def upload_create_idempotent(
    *,
    key: str,
    partner: Partner,
    data: bytes,
    filename: str = "",
    caption: str = "",
    external_id: str = "",
    declared_category: str = "",
) -> tuple[Upload, bool]:
    """upload_create behind an Idempotency-Key: the same key with the same
    request returns the original upload (created=False); with a different
    request it is a conflict. Keys expire after 24 hours."""
    if not key or len(key) > 200:
        raise InvalidInput("The Idempotency-Key header must be 1 to 200 characters.", code="invalid_idempotency_key")
    caption = visible_text(caption)  # as upload_create stores it, so a replay matches
    parts = [data, external_id.encode(), caption.encode()] + ([declared_category.encode()] if declared_category else [])
    request_hash = hashlib.sha256(b"\0".join(parts)).hexdigest()
    IdempotencyRecord.objects.filter(partner=partner, key=key, created_at__lt=timezone.now() - IDEMPOTENCY_TTL).delete()

    def replay() -> tuple[Upload, bool] | None:
        record = IdempotencyRecord.objects.select_related("upload").filter(partner=partner, key=key).first()
        if record is None:
            return None
        if record.request_hash != request_hash:
            raise Conflict("This Idempotency-Key was used with a different request.", code="idempotency_key_reused")
        return record.upload, False

    found = replay()
    if found:
        return found
    try:
        upload = upload_create(
            data=data,
            filename=filename,
            caption=caption,
            external_id=external_id,
            partner=partner,
            idempotency=(key, request_hash),
            declared_category=declared_category,
        )
    except IntegrityError:
        found = replay()  # a racing twin created it first
        if found is None:
            _refuse_duplicate_external_id(partner, external_id)
            raise
        return found
    return upload, True


def _start_processing(upload_id) -> Upload | None:
    """Lock the row and mark it processing; None when there is nothing to do."""
    with upload_locked(upload_id) as upload:
        if upload is None or upload.status in SETTLED_STATUSES:
            return None
        if upload.status == UploadStatus.PENDING:
            upload_transition(upload, UploadStatus.PROCESSING)
        upload.attempts += 1
    return upload


def _prediction_rows(upload: Upload, analysis: ImageAnalysis, categories: dict[str, float]) -> list[Prediction]:
    product = analysis.product
    rows = [
        Prediction(
            upload=upload,
            model_version_id=product.model_version_id,
            label=product.label,
            score=product.score,
            scores=product.scores,
            open_set=product.open_set(),
        )
    ]
    if analysis.imagenet is not None:
        tags = analysis.imagenet
        rows.append(
            Prediction(
                upload=upload,
                model_version_id=tags.model_version_id,
                label=tags.top[0][1],
                score=tags.top[0][2],
                scores={name: p for _, name, p in tags.top},
                embedding=tags.embedding,
                categories=categories,
            )
        )
    if analysis.adult is not None:
        adult = analysis.adult
        rows.append(
            Prediction(
                upload=upload,
                model_version_id=adult.model_version_id,
                label="adult" if adult.score >= 0.5 else "safe",
                score=adult.score,
                scores={"adult": adult.score, "safe": 1.0 - adult.score},
            )
        )
    return rows


def upload_classify(*, upload_id) -> Upload | None:
    """Run the models on an upload, store what they said, and apply the policy.

    Safe to run twice: a settled upload is left alone, and predictions are
    unique per (upload, model version).
    """
    upload = _start_processing(upload_id)
    if upload is None:
        return None
    if before_analysis is not None:
        before_analysis(upload)
    with upload.image.open("rb") as fh:
        data = fh.read()
    frames = analyze_frames(data, max_frames=settings.ANIMATION_SAMPLE_FRAMES)
    if upload.uploader_id is not None or settings.PUBLIC_COPY_PARTNER_UPLOADS:
        upload_public_image_ensure(upload=upload, data=data)
    return upload_apply_analysis(upload_id=upload_id, frames=frames, declared=upload.declared_category)


def upload_apply_analysis(
    *,
    upload_id,
    analysis: ImageAnalysis | None = None,
    frames: Sequence[FrameAnalysis] | None = None,
    declared: str | None = None,
) -> Upload | None:
    """Store an analysis (one per judged frame of an animation) and the
    policy's verdict on it, in one transaction. An animation takes its worst
    frame's verdict, and that frame's predictions are the upload's.
    `declared` is the upload's declared category when the caller holds the
    row already (read here when None)."""
    if frames is None:
        if analysis is None:
            raise TypeError("upload_apply_analysis needs an analysis or frames")
        frames = [FrameAnalysis(0, 0, 0, False, 0.0, analysis)]
    thresholds, flag_rules = policy_inputs()
    if declared is None:
        declared = Upload.objects.filter(pk=upload_id).values_list("declared_category", flat=True).first() or ""
    taxonomy = taxonomy_in_service()
    judgement = frames_judge(
        frames=frames, thresholds=thresholds, declared=declared, taxonomy=taxonomy, flag_rules=flag_rules
    )
    analysis, result = judgement.worst.frame.analysis, judgement.result
    categories = taxonomy.scores(analysis.imagenet.probabilities) if analysis.imagenet is not None else {}

    with upload_locked(upload_id) as upload:
        if upload is None or upload.status != UploadStatus.PROCESSING:
            return upload
        rows = _prediction_rows(upload, analysis, categories)
        Prediction.objects.bulk_create(rows, ignore_conflicts=True)
        product_row = (
            Prediction.objects.get(upload=upload, model_version_id=analysis.product.model_version_id)
            if any(flag.kind == FlagKind.PROHIBITED_CLASS for flag in result.flags)
            else None  # the row a prohibited-class flag points at; no query for the others
        )
        upload.flags.all().delete()
        Flag.objects.bulk_create(
            Flag(
                upload=upload,
                kind=flag.kind,
                category=flag.category,
                score=flag.score,
                action=flag.action,
                reason=flag.reason,
                detail=flag.detail,
                prediction=product_row if flag.kind == FlagKind.PROHIBITED_CLASS else None,
            )
            for flag in result.flags
        )
        frames_record(upload=upload, judgement=judgement)
        upload_text_record(upload=upload, frames=frames)
        bank_matches_record(upload=upload, matches=list(judgement.matches))
        product = analysis.product
        used = {
            name: thresholds[name]
            for name in (product.label, *(f.category for f in result.flags))
            if name in thresholds
        }
        upload.pdq_hash, upload.pdq_quality = analysis.pdq_hash, analysis.pdq_quality
        upload.policy_verdict = result.verdict
        upload.policy_explanation = {
            **result.explanation(used),
            "model_version": product.model_version_name,
            "label": product.label,
            "score": product.score,
            "open_set": product.open_set(),
            "models": {row.model_version_id: row.label for row in rows},
            "categories": dict(sorted(categories.items(), key=lambda item: -item[1])[:TOP_CATEGORIES]),
            "declared_category": upload.declared_category,
        }
        if upload.frame_count > 1:
            worst = judgement.worst.frame
            upload.policy_explanation["frames"] = {
                "judged": len(frames),
                "of": upload.frame_count,
                "worst": worst.index,
                "worst_timestamp_ms": worst.timestamp_ms,
            }
        upload_transition(upload, VERDICT_STATUS[result.verdict])
        if upload.status == UploadStatus.IN_REVIEW:
            upload_set_review_rank(upload, scores=product.scores, flags=len(result.flags))
        upload.failure_reason = ""
        upload_save(upload)  # publishes the verdict: webhooks now, the waiting request on commit
        if upload.status == UploadStatus.APPROVED:
            qa_sample_approval(upload=upload)
        audit_record(
            actor=None,
            action=AuditAction.POLICY_VERDICT,
            target=upload,
            data={
                "verdict": str(result.verdict),
                "label": product.label,
                "score": round(product.score, 4),
                "model_version": product.model_version_id,
                "flags": [f.category for f in result.flags],
            },
        )
    return upload


def upload_fail(*, upload_id, reason: str) -> Upload | None:
    """Give up on an upload: it becomes `failed` with the reason kept."""
    with upload_locked(upload_id) as upload:
        if upload is None or upload.status in SETTLED_STATUSES:
            return upload
        upload_transition(upload, UploadStatus.FAILED)
        upload.failure_reason = reason[:2000]
        audit_record(actor=None, action=AuditAction.UPLOAD_FAILED, target=upload, data={"reason": reason[:500]})
    logger.warning("upload %s failed: %s", upload_id, reason)
    return upload


def uploads_requeue_stuck(*, older_than: timedelta | None = None, max_attempts: int | None = None) -> dict[str, int]:
    """Find uploads stuck in pending/processing and queue them again, or fail
    them after too many attempts. The database is the source of truth: an
    upload whose queue message was lost is found here."""
    if older_than is None:
        older_than = timedelta(seconds=settings.SWEEP_STUCK_AFTER_SECONDS)
    if max_attempts is None:
        max_attempts = settings.SWEEP_MAX_ATTEMPTS
    cutoff = timezone.now() - older_than
    stuck = list(
        Upload.objects.filter(
            status__in=[UploadStatus.PENDING, UploadStatus.PROCESSING], updated_at__lt=cutoff
        ).values_list("pk", "attempts")[:1000]
    )
    requeued = failed = 0
    for upload_id, attempts in stuck:
        if attempts >= max_attempts:
            upload_fail(upload_id=upload_id, reason=f"gave up after {attempts} attempts")
            failed += 1
            continue
        with upload_locked(upload_id, among=Upload.objects.filter(updated_at__lt=cutoff)) as upload:
            if upload is None or upload.status in SETTLED_STATUSES:
                continue
            if upload.status == UploadStatus.PROCESSING:
                upload_transition(upload, UploadStatus.PENDING)
            upload_save(upload, touch=True)  # not swept again before SWEEP_STUCK_AFTER_SECONDS
            audit_record(actor=None, action=AuditAction.UPLOAD_REQUEUED, target=upload, data={"attempts": attempts})
            transaction.on_commit(partial(_enqueue_classification, upload_id))
        requeued += 1
    return {"requeued": requeued, "failed": failed}

"""Custom categories taught from examples (issue 15): a lead names a thing,
gives examples (uploads' stored embeddings, or imported images), a head is
trained on them in seconds on the training queue, promoted by the gate, and
served by every worker without a restart; a backfill runs it over past uploads.

Every write here checks the lead's permission itself (pages and the admin are
doors, not the guard), and every example added or removed is an audit row."""

from __future__ import annotations

import io
import logging
import re
import time
import uuid
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify

from classifier.facade import (
    Head,
    HeadSet,
    ModelRole,
    embed_images,
    embedding_from_bytes,
    fit_and_evaluate,
    head_candidates,
    head_evaluate,
    head_gate,
    open_image,
)
from classifier.registry import active_version_id
from moderation.errors import ApplicationError, Conflict, Forbidden, InvalidInput, NotFound
from moderation.models import (
    AuditAction,
    BackfillStatus,
    CategoryBackfill,
    CategoryExample,
    CategoryHead,
    CategoryKind,
    CategoryMatch,
    CustomCategory,
    ExampleSource,
    Flag,
    FlagKind,
    HeadStatus,
    Prediction,
    Upload,
    UploadStatus,
    UploadText,
)
from moderation.policy import Signal, threshold_errors
from moderation.services.audit import audit_record
from moderation.validation import validate_upload_image

logger = logging.getLogger(__name__)

CATEGORY_PERMISSION = "moderation.manage_customcategory"
IMPORT_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"})
MAX_IMPORT_FILES = 2000
# A zip's images inflate to at most this many uploads' worth of bytes, together.
IMPORT_INFLATED_UPLOADS = 20
BACKFILL_BATCH = 500


# ---------------------------------------------------------------- guard


def _require_lead(actor) -> None:
    """Only leads (the manage_customcategory permission) teach categories;
    actor=None is the system (management commands, tasks)."""
    if actor is None:
        return
    if not getattr(actor, "is_authenticated", False) or not actor.has_perm(CATEGORY_PERMISSION):
        raise Forbidden("Only a lead may change custom categories.", code="lead_only")


def category_get(*, slug: str | None = None, category_id: int | None = None, name: str | None = None):
    query = CustomCategory.objects.all()
    if slug is not None:
        query = query.filter(slug=slug)
    elif name is not None:
        query = query.filter(name=name)
    else:
        query = query.filter(pk=category_id or 0)
    category = query.select_related("active_head", "live_head").first()
    if category is None:
        raise NotFound("No such custom category.", code="category_not_found")
    return category


# ---------------------------------------------------------------- categories


def _clean_description(description: str) -> str:
    # PostgreSQL refuses NUL in text: a 500 there, not a stored description.
    if "\x00" in (description or ""):
        raise InvalidInput("The description holds a NUL character.", code="invalid_category_description")
    return (description or "")[:2000]


def _clean_fields(*, name: str, kind: str, threshold, reject_threshold) -> tuple[str, float, float | None]:
    name = (name or "").strip()
    if not name or len(name) > 100 or "\x00" in name:
        raise InvalidInput("A category needs a name of 1 to 100 characters.", code="invalid_category_name")
    if kind not in CategoryKind.values:
        raise InvalidInput(f"Kind must be one of {', '.join(CategoryKind.values)}.", code="invalid_category_kind")
    try:
        threshold = float(threshold)
        reject_threshold = None if reject_threshold in (None, "") else float(reject_threshold)
    except (TypeError, ValueError):
        raise InvalidInput("A threshold is a score between 0 and 1.", code="invalid_threshold") from None
    errors = threshold_errors(
        required={"threshold": threshold},
        optional={"reject_threshold": reject_threshold},
        ordered=("threshold", "reject_threshold"),
    )
    if errors:
        raise InvalidInput(" ".join(errors.values()), code="invalid_threshold", detail=errors)
    return name, threshold, reject_threshold


@transaction.atomic
def category_create(
    *,
    actor,
    name: str,
    description: str = "",
    kind: str = CategoryKind.REVIEW,
    threshold=0.8,
    reject_threshold=None,
) -> CustomCategory:
    _require_lead(actor)
    name, threshold, reject_threshold = _clean_fields(
        name=name, kind=kind, threshold=threshold, reject_threshold=reject_threshold
    )
    slug = slugify(name)[:100]
    if not slug:
        raise InvalidInput("The name needs at least one letter or digit.", code="invalid_category_name")
    if CustomCategory.objects.filter(name=name).exists() or CustomCategory.objects.filter(slug=slug).exists():
        raise Conflict(f"A custom category named {name!r} exists.", code="duplicate_category")
    category = CustomCategory.objects.create(
        name=name,
        slug=slug,
        description=_clean_description(description),
        kind=kind,
        threshold=threshold,
        reject_threshold=reject_threshold,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    audit_record(
        actor=actor,
        action=AuditAction.CATEGORY_CHANGED,
        target=category,
        data={"created": True, "name": name, "kind": kind, "threshold": threshold, "reject": reject_threshold},
    )
    return category


@transaction.atomic
def category_update(
    *, actor, category: CustomCategory, description: str, kind: str, threshold, reject_threshold, enabled: bool
) -> CustomCategory:
    _require_lead(actor)
    _, threshold, reject_threshold = _clean_fields(
        name=category.name, kind=kind, threshold=threshold, reject_threshold=reject_threshold
    )
    # What is stored, not `category`'s attributes: the admin passes the object its form already changed.
    stored = CustomCategory.objects.select_for_update().filter(pk=category.pk).first()
    if stored is None:
        raise NotFound("No such custom category.", code="category_not_found")
    before = {"kind": stored.kind, "threshold": stored.threshold, "reject": stored.reject_threshold}
    CustomCategory.objects.filter(pk=category.pk).update(
        description=_clean_description(description),
        kind=kind,
        threshold=threshold,
        reject_threshold=reject_threshold,
        enabled=enabled,
        updated_at=timezone.now(),
    )
    category.refresh_from_db()
    audit_record(
        actor=actor,
        action=AuditAction.CATEGORY_CHANGED,
        target=category,
        data={
            "from": before,
            "to": {"kind": kind, "threshold": threshold, "reject": reject_threshold},
            "enabled": enabled,
        },
    )
    return category


# ---------------------------------------------------------------- examples


def upload_embedding(upload_id) -> tuple[bytes, int] | None:
    """The stored backbone embedding of an upload, with its backbone version."""
    row = (
        Prediction.objects.filter(upload_id=upload_id, model_version__role=ModelRole.IMAGENET, embedding__isnull=False)
        .order_by("-created_at")
        .values_list("embedding", "model_version_id")
        .first()
    )
    return (bytes(row[0]), row[1]) if row and row[0] is not None else None


def _examples_changed(category: CustomCategory, *, queue_training: bool = True) -> None:
    """Stamp the change and queue a debounced training (after commit)."""
    stamp = timezone.now()
    CustomCategory.objects.filter(pk=category.pk).update(examples_changed_at=stamp)
    if not queue_training:
        return
    category_id = category.pk
    transaction.on_commit(lambda: _enqueue_training(category_id, stamp.isoformat()))


def _enqueue_training(category_id: int, stamp: str | None, countdown: float | None = None) -> None:
    from moderation.category_tasks import train_category

    try:
        train_category.apply_async(
            args=[category_id, stamp],
            countdown=settings.CUSTOM_CATEGORY_TRAIN_DEBOUNCE_SECONDS if countdown is None else countdown,
            queue=settings.CELERY_TRAINING_QUEUE,
        )
    except Exception:  # noqa: BLE001 - the broker is down; "Train now" or the next change queues it again
        logger.warning("could not queue training of category %s", category_id, exc_info=True)


@transaction.atomic
def examples_add(
    *,
    actor,
    category: CustomCategory,
    upload_ids: Sequence,
    positive: bool = True,
    source: str = ExampleSource.SEARCH,
    queue_training: bool = True,
) -> list[CategoryExample]:
    """Add uploads as examples (their stored embeddings). An upload already an
    example of this category takes the new polarity. All or nothing: an upload
    without a stored embedding refuses the whole request. A debounced training
    follows on the training queue unless the caller trains itself
    (candidate_mark)."""
    _require_lead(actor)
    if source not in ExampleSource.values:
        raise InvalidInput("Unknown example source.", code="invalid_example_source")
    if not upload_ids:
        raise InvalidInput("Choose at least one upload.", code="no_uploads_chosen")
    try:
        ids = list(dict.fromkeys(str(uuid.UUID(str(u))) for u in upload_ids))
    except ValueError:
        raise InvalidInput("An upload id is not a UUID.", code="invalid_upload_id") from None
    rows = dict(
        (str(upload_id), (bytes(embedding or b""), version_id))
        for upload_id, embedding, version_id in Prediction.objects.filter(
            upload_id__in=ids, model_version__role=ModelRole.IMAGENET, embedding__isnull=False
        ).values_list("upload_id", "embedding", "model_version_id")
    )
    missing = [u for u in ids if u not in rows]
    if missing:
        raise InvalidInput(
            f"{len(missing)} of the chosen uploads have no stored embedding (not analysed by the ImageNet model yet).",
            code="no_embedding",
            detail={"uploads": missing[:20]},
        )
    added = []
    for upload_id in ids:
        embedding, version_id = rows[upload_id]
        example, created = CategoryExample.objects.update_or_create(
            category=category,
            upload_id=upload_id,
            defaults={
                "positive": positive,
                "embedding": embedding,
                "backbone_version_id": version_id,
                "source": source,
                "added_by": actor if getattr(actor, "pk", None) else None,
            },
        )
        audit_record(
            actor=actor,
            action=AuditAction.CATEGORY_EXAMPLE_ADDED,
            target=example,
            data={
                "category": category.name,
                "upload": upload_id,
                "positive": positive,
                "source": source,
                "replaced": not created,
            },
        )
        added.append(example)
    _examples_changed(category, queue_training=queue_training)
    return added


@transaction.atomic
def example_remove(*, actor, example_id: int) -> None:
    _require_lead(actor)
    example = CategoryExample.objects.select_related("category").filter(pk=example_id).first()
    if example is None:
        raise NotFound("No such example.", code="example_not_found")
    audit_record(
        actor=actor,
        action=AuditAction.CATEGORY_EXAMPLE_REMOVED,
        target=example,
        data={
            "category": example.category.name,
            "upload": str(example.upload_id) if example.upload_id else None,
            "label": example.label,
            "positive": example.positive,
        },
    )
    example.delete()
    _examples_changed(example.category)


def image_files(path: Path) -> Iterable[tuple[str, bytes]]:
    """(name, bytes) of each image in a folder (recursively) or a zip file."""
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMPORT_SUFFIXES):
            yield file.name, file.read_bytes()
    elif zipfile.is_zipfile(path):
        yield from zip_images(path.read_bytes())
    else:
        raise InvalidInput(f"{path} is neither a folder nor a zip file.", code="invalid_import_path")


def import_max_inflated_bytes() -> int:
    """The most an import's images may come to, all together: a zip's
    (a zip bomb of members each under UPLOAD_MAX_BYTES is refused before it
    is inflated) and every file of one import (examples_import)."""
    return settings.UPLOAD_MAX_BYTES * IMPORT_INFLATED_UPLOADS


def zip_images(data: bytes) -> Iterable[tuple[str, bytes]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InvalidInput("The file is not a readable zip archive.", code="invalid_zip") from None
    with archive:
        members = [
            m
            for m in archive.infolist()
            if not m.is_dir() and Path(m.filename).suffix.lower() in IMPORT_SUFFIXES and "__MACOSX" not in m.filename
        ]
        if len(members) > MAX_IMPORT_FILES:
            raise InvalidInput(f"At most {MAX_IMPORT_FILES} images per import.", code="too_many_images")
        inflated = sum(m.file_size for m in members)
        if inflated > import_max_inflated_bytes():
            raise InvalidInput(
                f"The zip's images inflate to {inflated:,} bytes; an import takes at most "
                f"{import_max_inflated_bytes():,}.",
                code="import_too_large",
            )
        for member in sorted(members, key=lambda m: m.filename):
            if member.file_size > settings.UPLOAD_MAX_BYTES:
                raise InvalidInput(f"{member.filename} is larger than an upload may be.", code="image_too_large")
            try:
                content = archive.read(member)
            except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as exc:
                # A bad CRC, a damaged stream, an encrypted or unknown-method member.
                raise InvalidInput(
                    f"{member.filename} cannot be read from the zip ({exc}).", code="invalid_zip"
                ) from None
            yield Path(member.filename).name, content


_UNREADABLE = frozenset({"empty_file", "unsupported_format", "corrupt_image"})


def _check_like_an_upload(name: str, data: bytes) -> None:
    """An imported image passes an upload's checks (bytes, pixels, frames)
    before it is decoded: a small file may decode to gigabytes."""
    try:
        validate_upload_image(data)
    except ApplicationError as exc:
        if exc.code in _UNREADABLE:
            raise InvalidInput(f"{name} is not an image that decodes.", code="invalid_image") from None
        raise InvalidInput(f"{name}: {exc.message}", code=exc.code, detail=exc.detail) from None


def examples_import(
    *, actor, category: CustomCategory, files: Iterable[tuple[str, bytes]], positive: bool = True, progress=None
) -> list[CategoryExample]:
    """Embed images with the active backbone (through the classifier facade)
    and add them as examples. Nothing is stored unless every image decodes."""
    _require_lead(actor)
    backbone_id = active_version_id(ModelRole.IMAGENET)
    if backbone_id is None:
        raise InvalidInput("No active ImageNet model to embed the images with.", code="no_backbone")
    names: list[str] = []
    images: list = []
    total = 0
    for name, data in files:
        if len(names) >= MAX_IMPORT_FILES:
            raise InvalidInput(f"At most {MAX_IMPORT_FILES} images per import.", code="too_many_images")
        # One budget for the whole import (several zips in one form, or a folder), read lazily.
        total += len(data)
        if total > import_max_inflated_bytes():
            raise InvalidInput(
                f"The images come to more than {import_max_inflated_bytes():,} bytes; import them in parts.",
                code="import_too_large",
            )
        _check_like_an_upload(name, data)
        try:
            images.append(open_image(data, target_side=None).convert("RGB"))
        except Exception:  # noqa: BLE001 - any undecodable file refuses the import
            raise InvalidInput(f"{name} is not an image that decodes.", code="invalid_image") from None
        names.append(name[:255])
    if not images:
        raise InvalidInput("No images found (jpg, png, webp, gif, bmp).", code="no_images")
    embeddings = embed_images(images, progress=progress)
    with transaction.atomic():
        _require_lead(actor)
        examples = CategoryExample.objects.bulk_create(
            CategoryExample(
                category=category,
                positive=positive,
                embedding=embedding.astype(np.float16).tobytes(),
                backbone_version_id=backbone_id,
                source=ExampleSource.IMPORT,
                label=name,
                added_by=actor if getattr(actor, "pk", None) else None,
            )
            for name, embedding in zip(names, embeddings, strict=True)
        )
        for example in examples:
            audit_record(
                actor=actor,
                action=AuditAction.CATEGORY_EXAMPLE_ADDED,
                target_type="moderation.categoryexample",
                target_id=str(example.pk),
                data={"category": category.name, "file": example.label, "positive": positive, "source": "import"},
            )
        _examples_changed(category)
    return examples


# ---------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainingSet:
    embeddings: np.ndarray
    labels: np.ndarray
    keys: list[str]
    positives: int
    negatives: int  # given by a lead
    background: int  # recent uploads that are no example of this category (the last rows)

    @property
    def background_mask(self) -> np.ndarray:
        mask = np.zeros(len(self.labels), bool)
        mask[len(self.labels) - self.background :] = True
        return mask


def training_set(category: CustomCategory, backbone_id: int) -> TrainingSet:
    """The category's examples in the active backbone's space, plus background
    uploads: recent uploads that are no example of this one, negatives unless
    they look like the positives (classifier.ml.category_head's
    background_weights leaves those out). Other categories' examples are not
    used: categories may overlap ("e-cigarettes" and "vape pens")."""
    own = list(
        CategoryExample.objects.filter(category=category, backbone_version_id=backbone_id).values_list(
            "pk", "upload_id", "positive", "embedding"
        )
    )
    taken = {str(upload_id) for _, upload_id, _, _ in own if upload_id}
    vectors, labels, keys = [], [], []
    for pk, upload_id, positive, embedding in own:
        vectors.append(embedding_from_bytes(embedding))
        labels.append(1 if positive else 0)
        keys.append(f"upload:{upload_id}" if upload_id else f"example:{pk}")
    positives = sum(labels)
    negatives = len(labels) - positives
    background = 0
    recent = (
        Prediction.objects.filter(model_version_id=backbone_id, embedding__isnull=False)
        .exclude(upload_id__in=taken)
        .order_by("-created_at")
        .values_list("upload_id", "embedding")[: settings.CUSTOM_CATEGORY_BACKGROUND]
    )
    for upload_id, stored in recent:
        vectors.append(embedding_from_bytes(stored))
        labels.append(0)
        keys.append(f"upload:{upload_id}")
        background += 1
    return TrainingSet(
        np.stack(vectors) if vectors else np.zeros((0, 1280), np.float32),
        np.array(labels, dtype=np.int8),
        keys,
        positives,
        negatives,
        background,
    )


def category_train(*, category_id: int, trigger: str = "examples", actor=None) -> CategoryHead | None:
    """Train a head on the category's examples, evaluate it on the held-out
    ones against the head in service, and promote it if the gate says so.
    None when there is nothing to train on yet (no backbone, or no positive)."""
    _require_lead(actor)
    category = CustomCategory.objects.filter(pk=category_id).first()
    if category is None:
        return None
    backbone_id = active_version_id(ModelRole.IMAGENET)
    if backbone_id is None:
        return None
    data = training_set(category, backbone_id)
    if data.positives < 2 or data.positives == len(data.labels):
        return None
    trained, holdout = fit_and_evaluate(
        data.embeddings,
        data.labels,
        data.keys,
        threshold=category.threshold,
        background=data.background_mask,
        backbone_version_id=backbone_id,
    )
    active = category.active_head
    active_eval = None
    if active is not None and active.status == HeadStatus.ACTIVE and active.backbone_version_id == backbone_id:
        previous = Head.from_bytes(active.artifact)
        active_eval = head_evaluate(previous.scores(data.embeddings[holdout]), data.labels[holdout], category.threshold)
    decision = head_gate(trained.evaluation, active_eval, confirmed=trigger == "confirmation")
    with transaction.atomic():
        category = CustomCategory.objects.select_for_update().get(pk=category_id)
        version = (category.heads.order_by("-version").values_list("version", flat=True).first() or 0) + 1
        head = CategoryHead.objects.create(
            category=category,
            version=version,
            status=HeadStatus.CANDIDATE,
            artifact=trained.head.to_bytes(),
            backbone_version_id=backbone_id,
            threshold=category.threshold,
            trigger=trigger,
            metrics={
                **trained.evaluation.as_dict(),
                "train_positives": trained.train_positives,
                "train_negatives": trained.train_negatives,
                "examples_positive": data.positives,
                "examples_negative": data.negatives,
                "background_negatives": data.background,
                "background_left_out": trained.left_out,
                "cross_validated": trained.cross_validated.as_dict() if trained.cross_validated else None,
                "train_seconds": trained.seconds,
                "active_on_holdout": active_eval.as_dict() if active_eval else None,
            },
            gate=decision.as_dict(),
        )
        if decision.promote:
            # The live head keeps flagging until a lead confirms this one (category_confirm).
            CategoryHead.objects.filter(category=category, status=HeadStatus.ACTIVE).exclude(
                pk=category.live_head_id or 0
            ).update(status=HeadStatus.RETIRED)
            head.status = HeadStatus.ACTIVE
            category.active_head = head
            category.save(update_fields=["active_head", "updated_at"])
        else:
            head.status = HeadStatus.REJECTED
        head.save(update_fields=["status"])
        audit_record(
            actor=actor,
            action=AuditAction.CATEGORY_HEAD_TRAINED,
            target=head,
            data={
                "category": category.name,
                "version": version,
                "promoted": decision.promote,
                "reason": decision.reason,
                "precision": trained.evaluation.precision,
                "recall": trained.evaluation.recall,
            },
        )
    return head


def category_train_if_settled(*, category_id: int, stamp: str | None) -> CategoryHead | None:
    """The debounced trigger: train only if no example changed after `stamp`
    (a later change queued its own training)."""
    category = CustomCategory.objects.filter(pk=category_id).first()
    if category is None:
        return None
    if stamp is not None and category.examples_changed_at and category.examples_changed_at.isoformat() != stamp:
        return None
    return category_train(category_id=category_id, trigger="examples" if stamp else "on demand")


def category_train_request(*, actor, category: CustomCategory) -> None:
    """ "Train now": queued on the training queue at once, audited."""
    _require_lead(actor)
    category_id = category.pk
    audit_record(actor=actor, action=AuditAction.CATEGORY_TRAIN_REQUESTED, target=category)
    transaction.on_commit(lambda: _enqueue_training(category_id, None, countdown=0))


# ---------------------------------------------------------------- candidates

CANDIDATES_SHOWN = 8


@dataclass(frozen=True)
class Candidate:
    upload_id: str
    score: float
    why: str  # "unsure" (nearest the threshold) or "highest" (the background's highest score)


def _candidate_head(category: CustomCategory) -> CategoryHead | None:
    """The head whose doubts the lead answers: the newest the gate passed, or
    else the newest trained (a first head the gate refused still knows where it
    is unsure)."""
    if category.active_head_id:
        return category.active_head
    return category.heads.exclude(artifact=b"").order_by("-version").first()


def category_candidates(category: CustomCategory, *, count: int = CANDIDATES_SHOWN) -> list[Candidate]:
    """Recent uploads (the training background: no example of this category
    yet) for the lead to confirm: alternately the one the head is least sure
    of and the highest-scoring one (classifier.ml.category_head.candidates)."""
    head = _candidate_head(category)
    if head is None:
        return []
    taken = CategoryExample.objects.filter(category=category, upload__isnull=False).values("upload_id")
    rows = list(
        Prediction.objects.filter(model_version_id=head.backbone_version_id, embedding__isnull=False)
        .exclude(upload_id__in=taken)
        .order_by("-created_at")
        .values_list("upload_id", "embedding")[: settings.CUSTOM_CATEGORY_BACKGROUND]
    )
    unique = list({str(u): e for u, e in reversed(rows)}.items())
    if not unique:
        return []
    scores = Head.from_bytes(head.artifact).scores(np.stack([embedding_from_bytes(e) for _, e in unique]))
    # The first candidate (the one a key answers) alternates between the kinds, mark after mark.
    marks = CategoryExample.objects.filter(category=category, source=ExampleSource.CANDIDATE).count()
    chosen = head_candidates(scores, category.threshold, count, highest_first=marks % 2 == 1)
    unsure_rank = np.argsort(np.argsort(np.abs(scores - category.threshold), kind="stable"), kind="stable")
    highest_rank = np.argsort(np.argsort(-scores, kind="stable"), kind="stable")
    return [
        Candidate(unique[i][0], float(scores[i]), "unsure" if unsure_rank[i] <= highest_rank[i] else "highest")
        for i in chosen
    ]


def candidate_mark(*, actor, category: CustomCategory, upload_id, positive: bool) -> CategoryHead | None:
    """The lead's yes or no on a candidate: an example (source "confirm",
    audited as every example), then the head retrains at once, here, not
    after the training queue's debounce: the next candidate comes from it."""
    _require_lead(actor)
    examples_add(
        actor=actor,
        category=category,
        upload_ids=[upload_id],
        positive=positive,
        source=ExampleSource.CANDIDATE,
        queue_training=False,
    )
    return category_train(category_id=category.pk, trigger="confirmation", actor=actor)


# ---------------------------------------------------------------- going live

DRY_RUN_MAX_UPLOADS = 20000
DRY_RUN_BATCH = 2000
DRY_RUN_SHOWN = 12


def _days(days, *, code: str) -> int:
    try:
        days = int(days)
    except (TypeError, ValueError):
        days = 0
    if not 1 <= days <= settings.CUSTOM_CATEGORY_BACKFILL_MAX_DAYS:
        raise InvalidInput(f"Days must be between 1 and {settings.CUSTOM_CATEGORY_BACKFILL_MAX_DAYS}.", code=code)
    return days


def _scored_recent(head: CategoryHead, *, since, limit: int) -> Iterable[tuple[list, np.ndarray]]:
    """Batches of (rows, scores) of the newest stored embeddings of the
    head's backbone since `since`, one row per upload: (upload_id, status)."""
    model = Head.from_bytes(head.artifact)
    rows = (
        Prediction.objects.filter(
            model_version_id=head.backbone_version_id, embedding__isnull=False, upload__created_at__gte=since
        )
        .order_by("-upload__created_at", "-pk")
        .values_list("upload_id", "upload__status", "embedding")
    )
    seen: set = set()
    offset = 0
    while offset < limit:
        chunk = list(rows[offset : min(offset + DRY_RUN_BATCH, limit)])
        if not chunk:
            break
        offset += len(chunk)
        batch = [r for r in chunk if r[0] not in seen]
        seen.update(r[0] for r in batch)
        if not batch:
            continue
        yield (
            [(r[0], r[1]) for r in batch],
            model.scores(np.stack([embedding_from_bytes(r[2]) for r in batch])),
        )


def head_dry_run(*, actor, category: CustomCategory, days) -> dict:
    """What the category's newest head (the gate's choice) would have flagged
    over the last `days` days of stored embeddings, at the category's
    threshold, without flagging anything. Kept on the head: confirming it
    live requires one (category_confirm)."""
    _require_lead(actor)
    days = _days(days, code="invalid_dry_run_days")
    category = CustomCategory.objects.select_related("active_head").get(pk=category.pk)
    head = category.active_head
    if head is None:
        raise Conflict("The category has no trained head yet: add examples first.", code="no_active_head")
    since = timezone.now() - timedelta(days=days)
    reject_at = category.reject_threshold if category.reject_threshold is not None else category.threshold
    scanned = flagged = rejected = 0
    top: list[tuple[float, str, str]] = []
    for batch, scores in _scored_recent(head, since=since, limit=DRY_RUN_MAX_UPLOADS):
        scanned += len(batch)
        for (upload_id, status), score in zip(batch, scores, strict=True):
            if score < category.threshold:
                continue
            flagged += 1
            rejected += int(category.kind == CategoryKind.REJECT and score >= reject_at)
            top.append((float(score), str(upload_id), status))
        top = sorted(top, reverse=True)[:DRY_RUN_SHOWN]
    result = {
        "head_id": head.pk,
        "version": head.version,
        "days": days,
        "kind": category.kind,
        "threshold": category.threshold,
        "reject_threshold": category.reject_threshold,
        "scanned": scanned,
        "limit": DRY_RUN_MAX_UPLOADS,
        "flagged": flagged,
        "rejected": rejected,
        "top": [{"upload": u, "score": round(sc, 4), "status": st} for sc, u, st in top],
        "at": timezone.now().isoformat(),
        "by": getattr(actor, "username", "system"),
    }
    CategoryHead.objects.filter(pk=head.pk).update(dry_run=result)
    return result


@transaction.atomic
def category_confirm(*, actor, category: CustomCategory, head_id) -> CategoryHead:
    """A lead puts the newest head live, having seen its dry run: from then
    on workers flag with it. Refused for any other head, without a dry run
    of this head, or when the category's threshold or kind changed since it."""
    _require_lead(actor)
    stored = CustomCategory.objects.select_for_update().filter(pk=category.pk).first()
    if stored is None:
        raise NotFound("No such custom category.", code="category_not_found")
    category = stored
    try:
        head_id = int(head_id)
    except (TypeError, ValueError):
        raise InvalidInput("Which head? (a head id)", code="invalid_head") from None
    if category.active_head_id is None or category.active_head_id != head_id:
        raise Conflict(
            "Only the newest head the gate passed can go live; the page has changed since: look again.",
            code="head_changed",
        )
    head = CategoryHead.objects.get(pk=head_id)
    if category.live_head_id == head.pk:
        raise Conflict(f"Head v{head.version} is live already.", code="already_live")
    run = head.dry_run or {}
    if run.get("head_id") != head.pk:
        raise Conflict("Run the dry run of this head first: see what it would flag.", code="dry_run_first")
    if (run.get("threshold"), run.get("reject_threshold"), run.get("kind")) != (
        category.threshold,
        category.reject_threshold,
        category.kind,
    ):
        raise Conflict(
            "The category's threshold or kind changed since the dry run: run it again.", code="dry_run_stale"
        )
    previous = category.live_head_id
    if previous:
        CategoryHead.objects.filter(pk=previous).update(status=HeadStatus.RETIRED)
    CategoryHead.objects.filter(pk=head.pk).update(confirmed_by=_user_or_none(actor), confirmed_at=timezone.now())
    CustomCategory.objects.filter(pk=category.pk).update(live_head=head, updated_at=timezone.now())
    head.refresh_from_db()
    audit_record(
        actor=actor,
        action=AuditAction.CATEGORY_HEAD_CONFIRMED,
        target=head,
        data={
            "category": category.name,
            "version": head.version,
            "replaces": previous,
            "dry_run": {k: run.get(k) for k in ("days", "scanned", "flagged", "rejected", "threshold", "at")},
        },
    )
    return head


def dry_run_shown(category: CustomCategory) -> dict | None:
    """The newest head's dry run while it awaits confirmation, if one was run
    at the category's present settings (what the page offers to confirm)."""
    head = category.active_head
    if head is None or head.pk == category.live_head_id:
        return None
    run = head.dry_run or {}
    current = (category.threshold, category.reject_threshold, category.kind)
    if run.get("head_id") != head.pk or (run.get("threshold"), run.get("reject_threshold"), run.get("kind")) != current:
        return None
    return {**run, "percent": 100 * run["flagged"] / run["scanned"] if run.get("scanned") else None}


def _user_or_none(actor):
    return actor if getattr(actor, "pk", None) else None


# ---------------------------------------------------------------- serving


@dataclass(frozen=True)
class ServedCategory:
    category_id: int
    name: str
    kind: str
    threshold: float
    reject_threshold: float | None
    head_id: int
    head_version: int


class _HeadCache:
    """Every worker's heads, reloaded only when the set of active heads (or a
    category's settings) changes: one small indexed query, at most every
    CLASSIFIER_VERSION_CHECK_SECONDS (0 in tests: every upload)."""

    def __init__(self) -> None:
        self.key: tuple = ()
        self.served: tuple[ServedCategory, ...] = ()
        self.heads: HeadSet = HeadSet.stack([])
        self.checked_at: float | None = None

    def get(self) -> tuple[tuple[ServedCategory, ...], HeadSet]:
        # Like the classifier's models: look again at most every CLASSIFIER_VERSION_CHECK_SECONDS.
        now = time.monotonic()
        if self.checked_at is not None and now - self.checked_at < settings.CLASSIFIER_VERSION_CHECK_SECONDS:
            return self.served, self.heads
        self.checked_at = now
        # Only a head a lead confirmed after its dry run flags anything.
        rows = tuple(
            CustomCategory.objects.filter(enabled=True, live_head__isnull=False)
            .order_by("pk")
            .values_list("pk", "name", "kind", "threshold", "reject_threshold", "live_head_id", "live_head__version")
        )
        if rows != self.key:
            artifacts = dict(CategoryHead.objects.filter(pk__in=[r[5] for r in rows]).values_list("pk", "artifact"))
            served = tuple(ServedCategory(*row) for row in rows if row[5] in artifacts)
            self.heads = HeadSet.stack([(s.category_id, Head.from_bytes(artifacts[s.head_id])) for s in served])
            self.served, self.key = served, rows
        return self.served, self.heads


_cache = _HeadCache()


def forget_category_heads() -> None:
    global _cache
    _cache = _HeadCache()


def category_scores(embedding: bytes, backbone_version_id: int) -> list[tuple[ServedCategory, float]]:
    """Every active category's score of one stored embedding (heads fitted on
    another backbone are left out)."""
    return _scores(*_cache.get(), embedding, backbone_version_id)


def _scores(
    served: tuple[ServedCategory, ...], heads: HeadSet, embedding: bytes, backbone_version_id: int
) -> list[tuple[ServedCategory, float]]:
    if not served:
        return []
    scores = heads.scores(embedding_from_bytes(embedding)[None, :], backbone_version_id)[0]
    return [(s, float(score)) for s, score in zip(served, scores, strict=True) if not np.isnan(score)]


def category_reason(served: ServedCategory, score: float, threshold: float) -> str:
    return f"category {served.name!r} scored {score:.2f} ≥ {threshold:.2f}, head v{served.head_version}"


def custom_category_signals(analysis) -> tuple[list[Signal], list[str]]:
    """Risk signals of the flagging custom categories for one analysis, and
    what could not be checked. Tag-only categories raise none."""
    served, heads = _cache.get()
    flagging = [s for s in served if s.kind != CategoryKind.TAG]
    if not flagging:
        return [], []
    if analysis.imagenet is None:
        return [], [f"custom categories {', '.join(s.name for s in flagging)} (no active ImageNet model)"]
    signals = []
    # Scored with the heads this call read from the cache, not a second read.
    for s, score in _scores(served, heads, analysis.imagenet.embedding, analysis.imagenet.model_version_id):
        if s.kind == CategoryKind.TAG:
            continue
        reject_at = s.reject_threshold if s.reject_threshold is not None else s.threshold
        reject = reject_at if s.kind == CategoryKind.REJECT else None
        signals.append(
            Signal(
                FlagKind.CUSTOM_CATEGORY,
                s.name,
                score,
                s.threshold,
                reject,
                f"category {s.name!r} (head v{s.head_version})",
                {
                    "category_id": s.category_id,
                    "head_id": s.head_id,
                    "head_version": s.head_version,
                    "summary": category_reason(s, score, reject if reject and score >= reject else s.threshold),
                },
            )
        )
    return signals, []


# ---------------------------------------------------------------- backfill


@transaction.atomic
def backfill_start(*, actor, category: CustomCategory, days) -> CategoryBackfill:
    _require_lead(actor)
    days = _days(days, code="invalid_backfill_days")
    category = CustomCategory.objects.select_related("live_head").get(pk=category.pk)
    if category.live_head is None:
        raise Conflict(
            "The category has no live head yet: train one, look at its dry run and confirm it.", code="no_live_head"
        )
    backfill = CategoryBackfill.objects.create(
        category=category,
        head=category.live_head,
        days=days,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    audit_record(
        actor=actor,
        action=AuditAction.CATEGORY_BACKFILL,
        target=backfill,
        data={"category": category.name, "days": days, "head": category.live_head.version},
    )
    backfill_id = backfill.pk

    def enqueue() -> None:
        from moderation.category_tasks import run_backfill

        run_backfill.apply_async(args=[backfill_id], queue=settings.CELERY_TRAINING_QUEUE)

    transaction.on_commit(enqueue)
    return backfill


def backfill_run(*, backfill_id: int) -> CategoryBackfill | None:
    """Score past uploads' stored embeddings with the backfill's head. Matches
    are listed; an upload waiting in review also gets the category's flag (so
    its reviewer sees the reason); nothing decided changes. Safe to run twice."""
    with transaction.atomic():
        backfill = (
            CategoryBackfill.objects.select_for_update()
            .select_related("category", "head")
            .filter(pk=backfill_id)
            .first()
        )
        if backfill is None or backfill.status in (BackfillStatus.DONE, BackfillStatus.FAILED):
            return backfill
        backfill.status = BackfillStatus.RUNNING
        backfill.save(update_fields=["status"])
    head = backfill.head
    category = backfill.category
    since = backfill.created_at - timedelta(days=backfill.days)
    rows = Prediction.objects.filter(
        model_version_id=head.backbone_version_id, embedding__isnull=False, upload__created_at__gte=since
    ).order_by("pk")
    CategoryBackfill.objects.filter(pk=backfill.pk).update(total=rows.count())
    model = Head.from_bytes(head.artifact)
    served = ServedCategory(category.pk, category.name, category.kind, head.threshold, None, head.pk, head.version)
    try:
        last = 0
        while True:
            batch = list(
                rows.filter(pk__gt=last).values_list("pk", "upload_id", "embedding", "upload__status")[:BACKFILL_BATCH]
            )
            if not batch:
                break
            last = batch[-1][0]
            scores = model.scores(np.stack([embedding_from_bytes(e) for _, _, e, _ in batch]))
            matched = routed = 0
            with transaction.atomic():
                for (_, upload_id, _, status), score in zip(batch, scores, strict=True):
                    if score < head.threshold:
                        continue
                    undecided = status == UploadStatus.IN_REVIEW and category.kind != CategoryKind.TAG
                    _, created = CategoryMatch.objects.get_or_create(
                        backfill=backfill,
                        upload_id=upload_id,
                        defaults={"score": float(score), "status_then": status, "routed": undecided},
                    )
                    if not created:
                        continue
                    matched += 1
                    if (
                        undecided
                        and not Flag.objects.filter(
                            upload_id=upload_id, kind=FlagKind.CUSTOM_CATEGORY, category=category.name
                        ).exists()
                    ):
                        reason = category_reason(served, float(score), head.threshold)
                        Flag.objects.create(
                            upload_id=upload_id,
                            kind=FlagKind.CUSTOM_CATEGORY,
                            category=category.name,
                            score=float(score),
                            action="review",
                            reason=f"{category.name}: {reason} (backfill #{backfill.pk})",
                            detail={"category_id": category.pk, "head_version": head.version, "backfill": backfill.pk},
                        )
                        routed += 1
                CategoryBackfill.objects.filter(pk=backfill.pk).update(
                    scanned=F("scanned") + len(batch), matched=F("matched") + matched, routed=F("routed") + routed
                )
    except Exception as exc:
        CategoryBackfill.objects.filter(pk=backfill.pk).update(
            status=BackfillStatus.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    CategoryBackfill.objects.filter(pk=backfill.pk).update(status=BackfillStatus.DONE, finished_at=timezone.now())
    backfill.refresh_from_db()
    return backfill


# ---------------------------------------------------------------- reads


SEARCH_SCAN = 4  # uploads read per result asked for, before the whole-word check


@dataclass(frozen=True)
class SearchMatch:
    """Why a search result matched: the field and the words around the match."""

    field: str  # "caption", "file name", "ImageNet label" or "text in the image"
    before: str
    word: str
    after: str


@dataclass(frozen=True)
class SearchHit:
    upload: Upload
    matches: tuple[SearchMatch, ...]


def _whole_word(q: str) -> re.Pattern[str]:
    # A letter or digit on neither side: "dog" finds "my_dog.jpg" and "a dog", not "hotdog" or "dogs".
    return re.compile(r"(?<![^\W_])" + re.escape(q) + r"(?![^\W_])", re.IGNORECASE)


def _match(field: str, text: str, pattern: re.Pattern[str], context: int = 30) -> SearchMatch | None:
    found = pattern.search(text or "")
    if found is None:
        return None
    start, end = found.span()
    before = text[max(0, start - context) : start]
    after = text[end : end + context]
    return SearchMatch(
        field,
        ("…" if start > context else "") + before,
        found.group(),
        after + ("…" if end + context < len(text) else ""),
    )


def uploads_search(*, q: str = "", days: int = 30, status: str = "", limit: int = 60) -> list[SearchHit]:
    """Past uploads with a stored embedding (the ones that can become examples),
    newest first. `q` matches the caption, the file name, the ImageNet label or
    the text read in the image as a whole word (or words), and each hit says
    where it matched."""
    from django.db.models import Q

    since = timezone.now() - timedelta(days=max(1, min(int(days), 3650)))
    q = " ".join(q.replace("\x00", "").split())  # PostgreSQL refuses NUL in text
    imagenet = Q(predictions__model_version__role=ModelRole.IMAGENET, predictions__embedding__isnull=False)
    if q:
        # One filter(): the label condition is on the same ImageNet prediction, not any prediction.
        imagenet &= (
            Q(caption__icontains=q)
            | Q(original_filename__icontains=q)
            | Q(predictions__label__icontains=q)
            | Q(text_reading__text__icontains=q)
        )
    uploads = Upload.objects.filter(imagenet, created_at__gte=since)
    if status:
        uploads = uploads.filter(status=status)
    if not q:
        return [SearchHit(u, ()) for u in uploads.distinct().order_by("-created_at")[:limit]]
    candidates = list(uploads.distinct().order_by("-created_at")[: limit * SEARCH_SCAN])
    labels: dict = {}
    for upload_id, label in Prediction.objects.filter(
        upload__in=candidates, model_version__role=ModelRole.IMAGENET
    ).values_list("upload_id", "label"):
        labels.setdefault(upload_id, label)
    texts = dict(UploadText.objects.filter(upload__in=candidates).values_list("upload_id", "text"))
    pattern = _whole_word(q)
    hits = []
    for upload in candidates:
        found = tuple(
            m
            for m in (
                _match("caption", upload.caption, pattern),
                _match("file name", upload.original_filename, pattern),
                _match("ImageNet label", labels.get(upload.pk, ""), pattern),
                _match("text in the image", texts.get(upload.pk, ""), pattern),
            )
            if m is not None
        )
        if found:
            hits.append(SearchHit(upload, found))
        if len(hits) >= limit:
            break
    return hits


def category_live_figures(category: CustomCategory, *, days: int = 30) -> dict:
    """How the category's flags fared with people (its live calibration): the
    uploads it flagged in the last `days` days and, of those a moderator
    decided, how many were rejected (the flag was right) or approved."""
    from django.db.models import Count, Q

    from moderation.models import Decision

    since = timezone.now() - timedelta(days=days)
    flagged = Flag.objects.filter(kind=FlagKind.CUSTOM_CATEGORY, category=category.name, created_at__gte=since)
    decided = Decision.objects.filter(upload_id__in=flagged.values("upload_id")).aggregate(
        rejected=Count("upload", distinct=True, filter=Q(verdict="reject")),
        approved=Count("upload", distinct=True, filter=Q(verdict="approve")),
    )
    total = decided["rejected"] + decided["approved"]
    return {
        "days": days,
        "flagged": flagged.values("upload_id").distinct().count(),
        "rejected": decided["rejected"],
        "approved": decided["approved"],
        "live_precision": decided["rejected"] / total if total else None,
    }


def pr_curve_points(curve: Sequence[Sequence[float]], width: int = 240, height: int = 160) -> str:
    """SVG polyline points of a precision-recall curve: x recall, y precision."""
    return " ".join(f"{r * width:.1f},{(1 - p) * height:.1f}" for _, p, r in curve)


PR_CHART_TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)


def pr_chart(curve: Sequence[Sequence[float]], width: int = 240, height: int = 160) -> dict | None:
    """What the category page draws: the curve's points and the tick marks of
    both axes (recall along, precision up), in the plot's own coordinates."""
    if not curve:
        return None
    return {
        "points": pr_curve_points(curve, width, height),
        "width": width,
        "height": height,
        "mid_x": width / 2,
        "mid_y": height / 2,
        "x_ticks": [(round(t * width, 1), f"{t:g}") for t in PR_CHART_TICKS],
        "y_ticks": [(round((1 - t) * height, 1), f"{t:g}") for t in PR_CHART_TICKS],
    }


def head_figures(metrics: dict) -> dict:
    """A head's figures as the page states them: the held-out ones, marked
    uncertain (with their 95 % Wilson intervals) when fewer than about ten
    positives were held out, and the cross-validated ones over every example;
    the curve and the suggested threshold come from the cross-validated scores
    where there are any (more positives than the held-out handful)."""
    cross = metrics.get("cross_validated") or None
    curve_from = cross if cross and cross.get("curve") else metrics
    positives = metrics.get("positives") or 0
    return {
        "uncertain": metrics.get("uncertain", positives < 10),
        "precision_interval": metrics.get("precision_interval"),
        "recall_interval": metrics.get("recall_interval"),
        "cross": cross,
        "curve": curve_from.get("curve", []),
        "curve_source": "cross-validated" if curve_from is cross else "held-out",
    }

"""Custom categories taught from examples (issue 15): a lead names a thing,
gives examples (uploads' stored embeddings, or imported images), a head is
trained on them in seconds on the training queue, promoted by the gate, and
served by every worker without a restart; a backfill runs it over past uploads.

Every write here checks the lead's permission itself (pages and the admin are
doors, not the guard), and every example added or removed is an audit row."""

from __future__ import annotations

import io
import logging
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
    category = query.select_related("active_head").first()
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


def _examples_changed(category: CustomCategory) -> None:
    """Stamp the change and queue a debounced training (after commit)."""
    stamp = timezone.now()
    CustomCategory.objects.filter(pk=category.pk).update(examples_changed_at=stamp)
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
) -> list[CategoryExample]:
    """Add uploads as examples (their stored embeddings). An upload already an
    example of this category takes the new polarity. All or nothing: an upload
    without a stored embedding refuses the whole request."""
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
    _examples_changed(category)
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
    background: int  # recent uploads that are no example of this category


def training_set(category: CustomCategory, backbone_id: int) -> TrainingSet:
    """The category's examples in the active backbone's space, plus background
    negatives: recent uploads that are no example of this one (what the head
    must not fire on). Other categories' examples are not used: categories may
    overlap ("e-cigarettes" and "vape pens")."""
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
        data.embeddings, data.labels, data.keys, threshold=category.threshold, backbone_version_id=backbone_id
    )
    active = category.active_head
    active_eval = None
    if active is not None and active.status == HeadStatus.ACTIVE and active.backbone_version_id == backbone_id:
        previous = Head.from_bytes(active.artifact)
        active_eval = head_evaluate(previous.scores(data.embeddings[holdout]), data.labels[holdout], category.threshold)
    decision = head_gate(trained.evaluation, active_eval)
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
                "train_seconds": trained.seconds,
                "active_on_holdout": active_eval.as_dict() if active_eval else None,
            },
            gate=decision.as_dict(),
        )
        if decision.promote:
            CategoryHead.objects.filter(category=category, status=HeadStatus.ACTIVE).update(status=HeadStatus.RETIRED)
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
        rows = tuple(
            CustomCategory.objects.filter(enabled=True, active_head__isnull=False)
            .order_by("pk")
            .values_list(
                "pk", "name", "kind", "threshold", "reject_threshold", "active_head_id", "active_head__version"
            )
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
    try:
        days = int(days)
    except (TypeError, ValueError):
        days = 0
    if not 1 <= days <= settings.CUSTOM_CATEGORY_BACKFILL_MAX_DAYS:
        raise InvalidInput(
            f"Days must be between 1 and {settings.CUSTOM_CATEGORY_BACKFILL_MAX_DAYS}.", code="invalid_backfill_days"
        )
    category = CustomCategory.objects.select_related("active_head").get(pk=category.pk)
    if category.active_head is None:
        raise Conflict("The category has no active head yet: add examples first.", code="no_active_head")
    backfill = CategoryBackfill.objects.create(
        category=category,
        head=category.active_head,
        days=days,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    audit_record(
        actor=actor,
        action=AuditAction.CATEGORY_BACKFILL,
        target=backfill,
        data={"category": category.name, "days": days, "head": category.active_head.version},
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


def uploads_search(*, q: str = "", days: int = 30, status: str = "", limit: int = 60) -> list[Upload]:
    """Past uploads with a stored embedding (the ones that can become examples),
    newest first; `q` matches the caption, the file name, the ImageNet label
    or the text read in the image."""
    from django.db.models import Q

    since = timezone.now() - timedelta(days=max(1, min(int(days), 3650)))
    q = q.replace("\x00", "")  # PostgreSQL refuses NUL in text
    uploads = Upload.objects.filter(
        created_at__gte=since,
        predictions__model_version__role=ModelRole.IMAGENET,
        predictions__embedding__isnull=False,
    )
    if status:
        uploads = uploads.filter(status=status)
    if q:
        uploads = uploads.filter(
            Q(caption__icontains=q)
            | Q(original_filename__icontains=q)
            | Q(predictions__label__icontains=q)
            | Q(text_reading__text__icontains=q)
        )
    return list(uploads.distinct().order_by("-created_at")[:limit])


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

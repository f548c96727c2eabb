"""Reads. Views and tasks ask these; none of them writes."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from moderation.models import ClassPolicy, Prediction, Upload, UploadStatus
from moderation.policy import ClassThresholds


def class_thresholds() -> dict[str, ClassThresholds]:
    return {
        row.class_name: ClassThresholds(
            approve=row.approve_threshold, reject=row.reject_threshold, prohibited=row.prohibited
        )
        for row in ClassPolicy.objects.all()
    }


def _with_results(queryset: QuerySet[Upload]) -> QuerySet[Upload]:
    return queryset.select_related("appeal").prefetch_related(
        Prefetch("predictions", queryset=Prediction.objects.select_related("model_version")),
        "flags",
    )


def uploads_visible_to(*, partner=None, user=None) -> QuerySet[Upload]:
    """Uploads a caller may read: a partner's own, or a person's own posts."""
    if partner is not None:
        return _with_results(Upload.objects.filter(partner=partner))
    if user is not None and user.is_authenticated:
        return _with_results(Upload.objects.filter(uploader=user))
    return Upload.objects.none()


def review_queue(*, limit: int = 50) -> list[Upload]:
    """Uploads waiting for a moderator, oldest first."""
    return list(
        _with_results(Upload.objects.filter(status=UploadStatus.IN_REVIEW).order_by("created_at", "id"))[:limit]
    )


def review_queue_size() -> int:
    return Upload.objects.filter(status=UploadStatus.IN_REVIEW).count()


def feed(*, limit: int = 60) -> list[Upload]:
    """Approved posts, newest first: the public feed."""
    return list(
        Upload.objects.filter(status=UploadStatus.APPROVED, uploader__isnull=False)
        .select_related("uploader")
        .order_by("-verdict_at", "-id")[:limit]
    )


def upload_for_review(upload_id) -> Upload | None:
    return _with_results(Upload.objects.select_related("partner", "uploader")).filter(pk=upload_id).first()


def calibration_observations(*, since=None) -> tuple[dict[str, list[tuple[float, bool]]], dict[str, list[float]], int]:
    """What calibration needs: per class, reviewed (score, approved-with-that-label)
    pairs; per class, the top scores of every upload; and the upload count."""
    from moderation.models import Decision

    decisions = Decision.objects.filter(prediction__isnull=False)
    predictions = Prediction.objects.filter(model_version__role="product")
    if since is not None:
        decisions = decisions.filter(created_at__gte=since)
        predictions = predictions.filter(created_at__gte=since)
    reviewed: dict[str, list[tuple[float, bool]]] = {}
    for label, score, verdict, label_after in decisions.values_list(
        "prediction__label", "prediction__score", "verdict", "label_after"
    ).iterator():
        reviewed.setdefault(label, []).append((score, verdict == "approve" and label_after == label))
    scores: dict[str, list[float]] = {}
    total = 0
    for label, score in predictions.values_list("label", "score").iterator():
        scores.setdefault(label, []).append(score)
        total += 1
    return reviewed, scores, total


def flag_signals(analysis) -> list:
    """The adult-content and prohibited-goods signals of one analysis, with
    the thresholds of each enabled flag category."""
    from moderation.models import FlagCategory, FlagCategoryKind
    from moderation.policy import Signal, goods_signal

    signals = []
    categories = FlagCategory.objects.filter(enabled=True).prefetch_related("imagenet_classes")
    for category in categories:
        if category.kind == FlagCategoryKind.ADULT and analysis.adult is not None:
            signals.append(Signal("adult", category.name, analysis.adult.score, category.review_threshold,
                                  category.reject_threshold, f"{analysis.adult.model_version_name} (Open-NSFW)",
                                  {"model_version": analysis.adult.model_version_id}))
        elif category.kind == FlagCategoryKind.GOODS and analysis.imagenet is not None:
            signal = goods_signal(
                category.name,
                [(m.class_index, m.class_name) for m in category.imagenet_classes.all()],
                analysis.imagenet.probabilities,
                review=category.review_threshold,
                reject=category.reject_threshold,
                source=analysis.imagenet.model_version_name,
                detail={"model_version": analysis.imagenet.model_version_id},
            )
            if signal is not None:
                signals.append(signal)
    return signals

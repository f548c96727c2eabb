"""Reads. Views and tasks ask these; none of them writes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet, prefetch_related_objects
from django.utils import timezone

from classifier.facade import ModelRole, ModelVersion
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
    if partner is not None:  # the API's representation also answers the text read
        return _with_results(Upload.objects.filter(partner=partner)).prefetch_related("text_reading")
    if user is not None and user.is_authenticated:
        return _with_results(Upload.objects.filter(uploader=user))
    return Upload.objects.none()


def upload_just_created(upload: Upload) -> Upload:
    """An upload upload_create has just stored, ready for UploadOutputSerializer
    without asking the database: no model, flag or appeal has touched it yet
    (the same row read back would show the same; the API answers a new upload
    with no `wait` this way, three queries fewer)."""
    from moderation.models import Appeal, Flag, UploadText

    prefetch_related_objects(
        [upload],
        Prefetch("predictions", queryset=Prediction.objects.none()),
        Prefetch("flags", queryset=Flag.objects.none()),
        Prefetch("appeal", queryset=Appeal.objects.none()),
        Prefetch("text_reading", queryset=UploadText.objects.none()),
    )
    return upload


def review_queue(
    *, limit: int = 50, after: tuple[float, str] | None = None, waiting: QuerySet[Upload] | None = None
) -> list[Upload]:
    """Items waiting for a moderator (`waiting`: those of them a filter
    kept), highest priority first (moderation.queue), one keyset page: the
    same few queries however long the queue is."""
    queryset = review_waiting() if waiting is None else waiting
    if after is not None:
        rank, upload_id = after
        queryset = queryset.filter(Q(review_rank__lt=rank) | Q(review_rank=rank, id__gt=upload_id))
    queryset = queryset.select_related("partner", "claimed_by").order_by("-review_rank", "id")
    return list(_with_results(queryset)[:limit])


def review_waiting() -> QuerySet[Upload]:
    """Every item waiting for a moderator: the review queue's rows, counted by
    review_queue_size and the metrics summary."""
    from moderation.models import REVIEWABLE_STATUSES

    return Upload.objects.filter(status__in=REVIEWABLE_STATUSES)


def review_queue_choices() -> dict[str, list]:
    """What the queue's filters offer: the flag kinds and categories and the
    partners among the items waiting (two small aggregate queries)."""
    from moderation.models import Flag, FlagKind, Partner

    pairs = set(Flag.objects.filter(upload__in=review_waiting()).values_list("kind", "category").distinct())
    kinds = {kind for kind, _ in pairs}
    return {
        "kinds": [(value, label) for value, label in FlagKind.choices if value in kinds],
        "categories": sorted({category for _, category in pairs}),
        "partners": list(
            Partner.objects.filter(uploads__in=review_waiting()).distinct().order_by("name").values_list("pk", "name")
        ),
    }


def review_queue_size() -> int:
    """Items waiting for a moderator (the queue page's count and the metrics' queue depth)."""
    return review_waiting().count()


@dataclass(frozen=True)
class ClassificationBacklog:
    depth: int  # uploads accepted and not yet settled (pending or processing)
    verdicts_per_second: float  # settled over the last `window` seconds
    window: float

    @property
    def expected_delay_seconds(self) -> float | None:
        """How long a new upload waits for its verdict at the recent pace;
        None when uploads wait and nothing settled lately (no worker, or one
        just started)."""
        if self.depth == 0:
            return 0.0
        if self.verdicts_per_second <= 0:
            return None
        return self.depth / self.verdicts_per_second


def classification_backlog(*, window: float = 30.0) -> ClassificationBacklog:
    """The one count of uploads waiting for the models (the review queue is
    `review_queue_size`), with the pace the workers settle them at: what the
    upload API's back-pressure, its 202 hint and the metrics report."""
    depth = Upload.objects.filter(status__in=(UploadStatus.PENDING, UploadStatus.PROCESSING)).count()
    since = timezone.now() - timedelta(seconds=window)
    settled = Upload.objects.filter(verdict_at__gte=since).count()
    return ClassificationBacklog(depth=depth, verdicts_per_second=settled / window, window=window)


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
    predictions = Prediction.objects.product()
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


def enabled_flag_rules() -> list:
    """The enabled flag categories with their taxonomy categories, as flag_signals reads them."""
    from moderation.models import FlagCategory

    return list(FlagCategory.objects.filter(enabled=True).select_related("taxonomy_category"))


_policy_inputs: tuple[float, dict[str, ClassThresholds], list] | None = None


def policy_inputs() -> tuple[dict[str, ClassThresholds], list]:
    """(class thresholds, enabled flag rules) for the worker's policy, read at
    most every POLICY_CACHE_SECONDS per process (0: on every upload), as the
    taxonomy and the model versions are: two queries fewer per upload."""
    global _policy_inputs
    now = time.monotonic()
    held = _policy_inputs
    if held is not None and now - held[0] < settings.POLICY_CACHE_SECONDS:
        return held[1], held[2]
    thresholds, rules = class_thresholds(), enabled_flag_rules()
    _policy_inputs = (now, thresholds, rules)
    return thresholds, rules


def flag_signals(
    analysis, *, declared: str = "", taxonomy=None, flag_rules=None, thresholds=None
) -> tuple[list, list[str]]:
    """The risk signals of one analysis, with the thresholds of each enabled
    flag category: adult content, prohibited goods (the summed ImageNet
    probabilities of a taxonomy category), and a listing that does not show
    what it declares. Also what could not be checked (a flag whose model is
    missing). `taxonomy` is `moderation.taxonomy.taxonomy_in_service()` and
    `flag_rules` the enabled FlagCategory rows and `thresholds` the class
    thresholds (`class_thresholds()`), each read when needed and not given (the
    frames of one animation share them)."""
    from moderation.models import ClassPolicy, FlagCategoryKind
    from moderation.policy import Signal, goods_signal, listing_signal
    from moderation.taxonomy import taxonomy_in_service

    signals, unchecked = [], []
    imagenet, product = analysis.imagenet, analysis.product
    taxonomy = taxonomy or taxonomy_in_service()
    categories = taxonomy.scores(imagenet.probabilities) if imagenet is not None else None
    if flag_rules is None:
        flag_rules = enabled_flag_rules()
    for flag in flag_rules:
        if flag.kind == FlagCategoryKind.ADULT:
            if analysis.adult is None:
                unchecked.append(f"{flag.name} (no active adult-content model)")
                continue
            signals.append(
                Signal(
                    "adult",
                    flag.name,
                    analysis.adult.score,
                    flag.review_threshold,
                    flag.reject_threshold,
                    f"{analysis.adult.model_version_name} (Open-NSFW)",
                    {"model_version": analysis.adult.model_version_id},
                )
            )
        elif flag.kind == FlagCategoryKind.GOODS:
            if imagenet is None:
                unchecked.append(f"{flag.name} (no active ImageNet model)")
                continue
            if flag.taxonomy_category is None:  # refused by a constraint; kept for the type checker
                continue
            name = flag.taxonomy_category.name
            signal = goods_signal(
                flag.name,
                taxonomy.classes_of(name),
                imagenet.probabilities,
                review=flag.review_threshold,
                reject=flag.reject_threshold,
                source=f"{imagenet.model_version_name} category {name!r}:",
                detail={"model_version": imagenet.model_version_id, "taxonomy_category": name},
            )
            if signal is not None:
                signals.append(signal)
        elif flag.kind == FlagCategoryKind.LISTING_MISMATCH and declared:
            if declared not in taxonomy.category_names:
                if thresholds is None:
                    thresholds = class_thresholds()
                policy = thresholds.get(declared)
                threshold = policy.approve if policy else ClassPolicy._meta.get_field("approve_threshold").default
                if getattr(product, "route", "studio") == "photo":
                    threshold = 0.0  # its tag is shown only when sure enough (its own minimum score)
                signals.append(
                    listing_signal(
                        declared,
                        kind="class",
                        review=flag.review_threshold,
                        reject=flag.reject_threshold,
                        product_label=product.label,
                        product_score=product.score,
                        in_distribution=getattr(product, "in_distribution", True),
                        class_threshold=threshold,
                        withheld=getattr(product, "reason", ""),
                    )
                )
            elif categories is None:
                unchecked.append(f"{flag.name} (declared category {declared!r}: no active ImageNet model)")
            else:
                signals.append(
                    listing_signal(
                        declared,
                        kind="category",
                        review=flag.review_threshold,
                        reject=flag.reject_threshold,
                        category_score=categories.get(declared, 0.0),
                        source=imagenet.model_version_name,
                    )
                )
    # Custom categories taught from a lead's examples (moderation.services.categories).
    from moderation.services.categories import custom_category_signals

    custom, custom_unchecked = custom_category_signals(analysis)
    return signals + custom + _text_signals(analysis, flag_rules), unchecked + custom_unchecked


def _text_signals(analysis, flag_rules) -> list:
    """The text flags (issue 27) of what the image says, when it says anything."""
    from moderation.text_match import text_signals

    text = getattr(analysis, "text", None)
    if text is None:  # not read (TEXT_IN_IMAGES off, or a frame past TEXT_MAX_FRAMES)
        return []
    # The lists are read whenever text was read, found or not: a worker's
    # queries per upload do not depend on what an image happens to say.
    return text_signals(text, rules=flag_rules, lists=text_lists())


_text_lists: tuple[float, Any] | None = None


def text_lists():
    """The lead's term list and domain lists, ready to match
    (moderation.text_match.TextLists), read at most every POLICY_CACHE_SECONDS
    per process, as the other policy inputs are."""
    from moderation.models import DomainListing, DomainRule, TextTerm
    from moderation.text_match import Term, TextLists, compile_terms

    global _text_lists
    now = time.monotonic()
    held = _text_lists
    if held is not None and now - held[0] < settings.POLICY_CACHE_SECONDS:
        return held[1]
    terms = compile_terms(Term(t, m) for t, m in TextTerm.objects.filter(enabled=True).values_list("term", "match"))
    rules = list(DomainRule.objects.values_list("domain", "listing"))
    lists = TextLists(
        terms=terms,
        blocked=tuple(d for d, listing in rules if listing == DomainListing.BLOCK),
        allowed=tuple(d for d, listing in rules if listing == DomainListing.ALLOW),
    )
    _text_lists = (now, lists)
    return lists


def metrics_summary(*, now=None, hours: int = 24) -> dict:
    """The figures of the metrics page; each is one aggregate query."""
    from datetime import timedelta
    from statistics import median

    from django.db.models import Count, F, Min, Q
    from django.db.models.functions import TruncHour
    from django.utils import timezone

    from moderation.models import Decision, QAItem, QAKind

    now = now or timezone.now()
    since = now - timedelta(hours=hours)
    per_hour = {
        row["hour"]: row["n"]
        for row in Upload.objects.filter(created_at__gte=since)
        .annotate(hour=TruncHour("created_at"))
        .values("hour")
        .annotate(n=Count("id"))
        .order_by("hour")
    }
    hours_axis = [(since + timedelta(hours=i + 1)).replace(minute=0, second=0, microsecond=0) for i in range(hours)]
    verdicts = dict(
        Upload.objects.filter(created_at__gte=since)
        .exclude(policy_verdict="")
        .values_list("policy_verdict")
        .annotate(n=Count("id"))
        .order_by()
    )
    decided_total = sum(verdicts.values()) or 1
    queue = review_waiting().aggregate(n=Count("id"), oldest=Min("created_at"))
    recent = list(
        Decision.objects.filter(created_at__gte=now - timedelta(days=7))
        .annotate(wait=F("created_at") - F("upload__created_at"))
        .values_list("wait", flat=True)[:5000]
    )
    per_moderator = list(
        Decision.objects.filter(created_at__gte=since)
        .values("moderator__username")
        .annotate(n=Count("id"))
        .order_by("-n")[:20]
    )

    def agreement(kind: str) -> dict:
        answered = list(
            QAItem.objects.filter(kind=kind, answered_at__isnull=False).values_list("verdict", "reference_verdict")
        )
        agreed = sum(1 for verdict, reference in answered if verdict == reference)
        return {"answered": len(answered), "agreement": agreed / len(answered) if answered else None}

    versions: list[dict[str, Any]] = [
        dict(row)
        for row in ModelVersion.objects.filter(role=ModelRole.PRODUCT)
        .order_by("created_at")
        .values("id", "architecture", "status", "created_at", "metrics__accuracy")
    ]
    live = {
        row["prediction__model_version"]: row
        for row in Decision.objects.filter(prediction__isnull=False)
        .values("prediction__model_version")
        .annotate(n=Count("id"), confirmed=Count("id", filter=Q(label_after=F("label_before"))))
    }
    for version in versions:
        row = live.get(version["id"])
        version["reviewed"] = row["n"] if row else 0
        version["review_accuracy"] = (row["confirmed"] / row["n"]) if row and row["n"] else None
    return {
        "hours": [h.strftime("%H:%M") for h in hours_axis],
        "uploads_per_hour": [per_hour.get(h, 0) for h in hours_axis],
        "uploads": sum(per_hour.values()),
        "auto_approve_rate": verdicts.get("approve", 0) / decided_total,
        "auto_reject_rate": verdicts.get("reject", 0) / decided_total,
        "review_rate": verdicts.get("review", 0) / decided_total,
        "queue_size": queue["n"],
        "oldest_age_hours": (now - queue["oldest"]).total_seconds() / 3600 if queue["oldest"] else 0.0,
        "median_minutes_to_decision": median(w.total_seconds() for w in recent) / 60 if recent else None,
        "decisions_per_moderator": per_moderator,
        "moderator_vs_moderator": agreement(QAKind.SECOND),
        "moderator_vs_policy": agreement(QAKind.BLIND),
        "model_versions": versions,
    }


# A bank match asks for a look at the entry it matched, and a reject-level
# flag for the one decision the policy would have made itself: neither is
# decided in bulk. Every other flag in review is a review-level score.
_NOT_FOR_BULK = {"kind": "hash_match"}


def review_outcomes(*, now=None) -> dict:
    """What moderators made of the policy's flags and what appeals made of
    moderators: per flag (kind and category), the share of flagged items
    that moderators rejected on review (the flag's precision: upheld by a
    person); the appeals' outcomes and the overturn rate; and how old the
    waiting items are. Each is one aggregate query (three in all)."""
    from django.db.models import Count, OuterRef, Subquery

    from moderation.models import Appeal, AppealStatus, Decision, Flag, FlagKind

    now = now or timezone.now()
    # The review decision: the first one not undone (an appeal's comes later).
    first_verdict = Subquery(
        Decision.objects.filter(upload=OuterRef("upload_id"), undone_at__isnull=True)
        .order_by("created_at", "pk")
        .values("verdict")[:1]
    )
    kinds = dict(FlagKind.choices)
    flags = []
    for row in (
        Flag.objects.annotate(verdict=first_verdict)
        .exclude(verdict=None)
        .values("kind", "category")
        .annotate(
            decided=Count("upload_id", distinct=True),
            rejected=Count("upload_id", distinct=True, filter=Q(verdict="reject")),
        )
        .order_by("-decided", "kind", "category")[:30]
    ):
        flags.append(
            {**row, "kind_label": kinds.get(row["kind"], row["kind"]), "precision": row["rejected"] / row["decided"]}
        )
    appeals = dict(Appeal.objects.values_list("status").annotate(n=Count("id")).order_by())
    decided = appeals.get(AppealStatus.OVERTURNED, 0) + appeals.get(AppealStatus.UPHELD, 0)
    ages = review_waiting().aggregate(
        under_hour=Count("id", filter=Q(created_at__gte=now - timedelta(hours=1))),
        under_day=Count(
            "id", filter=Q(created_at__lt=now - timedelta(hours=1), created_at__gte=now - timedelta(days=1))
        ),
        over_day=Count("id", filter=Q(created_at__lt=now - timedelta(days=1))),
    )
    return {
        "flags": flags,
        "appeals": {status.value: appeals.get(status.value, 0) for status in AppealStatus},
        "overturn_rate": appeals.get(AppealStatus.OVERTURNED, 0) / decided if decided else None,
        "queue_ages": ages,
    }


def low_risk_queryset(*, moderator, reason: str = "") -> QuerySet[Upload]:
    """In review (not an appeal) with no bank match and no reject-level flag,
    not held by someone else, not one's own: safe to decide in bulk, a look
    at each thumbnail being enough. The bulk service decides nothing outside
    this. `reason` narrows it to the items flagged for one reason (a value of
    bulk_reasons: "kind:category", or "none" for items with no flag)."""
    from moderation.models import Flag
    from moderation.services.duties import not_decidable_by
    from moderation.services.queue import claim_free_for

    risky = Flag.objects.filter(Q(**_NOT_FOR_BULK) | Q(action="reject")).values("upload_id")
    queryset = (
        Upload.objects.filter(status=UploadStatus.IN_REVIEW)
        .exclude(pk__in=risky)
        .filter(claim_free_for(moderator))
        .exclude(not_decidable_by(moderator))
    )
    if reason == "none":
        queryset = queryset.exclude(pk__in=Flag.objects.values("upload_id"))
    elif reason:
        kind, _, category = reason.partition(":")
        queryset = queryset.filter(pk__in=Flag.objects.filter(kind=kind, category=category).values("upload_id"))
    return queryset


@dataclass(frozen=True)
class BulkReason:
    value: str  # low_risk_queryset's `reason`
    label: str
    count: int


def bulk_reasons(*, moderator) -> list[BulkReason]:
    """Why the bulk grid's items are in review, one entry per reason (a flag's
    kind and category) with how many items it holds, most first: the grid's
    filter, so that a moderator decides same-reason items together."""
    from django.db.models import Count

    from moderation.models import Flag, FlagKind

    items = low_risk_queryset(moderator=moderator)
    rows = (
        Flag.objects.filter(upload__in=items)
        .values("kind", "category")
        .annotate(n=Count("upload_id", distinct=True))
        .order_by("-n", "kind", "category")
    )
    kinds = dict(FlagKind.choices)
    reasons = [
        BulkReason(
            f"{row['kind']}:{row['category']}", f"{kinds.get(row['kind'], row['kind'])}: {row['category']}", row["n"]
        )
        for row in rows
    ]
    unflagged = items.exclude(pk__in=Flag.objects.values("upload_id")).count()
    if unflagged:
        reasons.append(BulkReason("none", "No flag", unflagged))
    return reasons


def low_risk_items(*, moderator, reason: str = "", limit: int = 48) -> list[Upload]:
    """The bulk grid's page of low-risk items (low_risk_queryset)."""
    return list(
        _with_results(low_risk_queryset(moderator=moderator, reason=reason).order_by("-review_rank", "id"))[:limit]
    )


def audit_search(*, q: str = "", action: str = "", since=None, until=None):
    from django.db.models import Q

    from moderation.models import AuditEvent

    events = AuditEvent.objects.order_by("-created_at", "-id")
    if q:
        events = events.filter(Q(target_id__icontains=q) | Q(actor_name__icontains=q))
    if action:
        events = events.filter(action=action)
    if since:
        events = events.filter(created_at__gte=since)
    if until:
        events = events.filter(created_at__lt=until)
    return events


def audit_csv_rows(events):
    """CSV lines of audit events, streamed."""
    import csv
    import io
    import json

    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield line(["created_at", "actor", "action", "target_type", "target_id", "data"])
    for event in events.iterator(chunk_size=2000):
        yield line(
            [
                event.created_at.isoformat(),
                event.actor_name or "system",
                event.action,
                event.target_type,
                event.target_id,
                json.dumps(event.data, sort_keys=True),
            ]
        )


def uploader_post(*, user, upload_id) -> Upload | None:
    return uploads_visible_to(user=user).prefetch_related("decisions").filter(pk=upload_id).first()


def uploader_notified(*, user, limit: int = 50) -> list[Upload]:
    """A person's posts that had a decision (a verdict or an appeal's outcome),
    most recent first: the rows the notifications list is made of."""
    return list(
        uploads_visible_to(user=user)
        .filter(verdict_at__isnull=False)
        .prefetch_related("decisions")
        .order_by("-updated_at")[:limit]
    )


def review_wait_estimate(*, upload: Upload, now=None):
    """Where a held post stands in the review queue and the moderators' pace
    over the last 24 hours (decisions per hour)."""
    from datetime import timedelta

    from django.utils import timezone

    from moderation.models import REVIEWABLE_STATUSES, Decision
    from moderation.uploader_status import WaitEstimate

    now = now or timezone.now()
    ahead = (
        Upload.objects.filter(status__in=REVIEWABLE_STATUSES, review_rank__gt=upload.review_rank)
        .exclude(pk=upload.pk)
        .count()
    )
    decided = Decision.objects.filter(created_at__gte=now - timedelta(hours=24)).count()
    return WaitEstimate(ahead=ahead, decided_per_hour=decided / 24)


def uploader_unread_count(*, user, since=None) -> int:
    """How many of a person's posts had a decision after `since` (all decided
    posts when None): one query, for the navigation."""
    from django.db.models import Q

    decided = Upload.objects.filter(uploader=user, verdict_at__isnull=False).exclude(status=UploadStatus.APPEALED)
    if since is not None:
        decided = decided.filter(Q(verdict_at__gt=since) | Q(appeal__decided_at__gt=since))
    return decided.count()


def hash_banks_with_counts():
    """Hash banks with their entry counts, for the lead's banks pages."""
    from django.db.models import Count

    from moderation.models import HashBank

    return HashBank.objects.annotate(entry_count=Count("entries")).order_by("name")


def bank_entries(*, bank_id: int):
    """A bank's entries, newest first (the bank page pages them)."""
    from moderation.models import BankedHash

    return BankedHash.objects.filter(bank_id=bank_id).select_related("added_by").order_by("-created_at", "-pk")


def undoable_decision(*, moderator):
    """The moderator's last decision if it may still be undone (the pages
    offer Undo only then; review_undo checks again): within
    REVIEW_UNDO_SECONDS, not undone, its upload still as it left it."""
    from moderation.models import Decision

    since = timezone.now() - timedelta(seconds=settings.REVIEW_UNDO_SECONDS)
    decision = (
        Decision.objects.filter(moderator=moderator, created_at__gte=since)
        .select_related("upload", "upload__appeal")
        .order_by("-created_at", "-pk")
        .first()
    )
    if decision is None or decision.undone_at is not None:
        return None
    if getattr(decision.upload, "appeal", None) is not None:  # an appealed upload's decisions are final
        return None
    if decision.upload.status not in (UploadStatus.APPROVED, UploadStatus.REJECTED):
        return None
    return decision

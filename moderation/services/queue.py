"""Claiming review items: opening an item claims it for one moderator until the
claim expires; nobody else is offered it meanwhile."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from moderation import queue
from moderation.errors import Conflict, InvalidInput, NotFound
from moderation.models import REVIEWABLE_STATUSES, Upload, UploadStatus
from moderation.services.duties import duties_check, not_decidable_by
from moderation.services.lifecycle import upload_locked


def upload_set_review_rank(upload: Upload, *, scores: dict, flags: int) -> None:
    """Give an upload entering the queue its rank (see moderation.queue)."""
    partner_priority = upload.partner.priority if upload.partner else 0
    static = queue.static_priority(
        scores=scores, flags=flags, appeal=upload.status == UploadStatus.APPEALED, partner_priority=partner_priority
    )
    upload.review_rank = queue.rank(static, upload.created_at)


# The claim rule, in one place: a claim is live until `claimed_until`; a live
# claim of someone else's keeps a moderator from opening, deciding or being
# offered the item; an expired one is nobody's.


def claim_live(upload: Upload, *, now: datetime | None = None) -> bool:
    """Whether someone holds `upload` now."""
    now = now or timezone.now()
    return upload.claimed_by_id is not None and upload.claimed_until is not None and upload.claimed_until > now


def claim_held_by_other(upload: Upload, moderator, *, now: datetime | None = None) -> bool:
    """Whether someone other than `moderator` holds `upload` now."""
    return claim_live(upload, now=now) and upload.claimed_by_id != moderator.pk


def claim_free_for(moderator, *, now: datetime | None = None) -> Q:
    """The rows not held by anyone but `moderator` (claim_held_by_other, as a filter)."""
    now = now or timezone.now()
    return (
        Q(claimed_by__isnull=True) | Q(claimed_until__isnull=True) | Q(claimed_until__lte=now) | Q(claimed_by=moderator)
    )


def _claimable(moderator):
    return (
        Upload.objects.filter(status__in=REVIEWABLE_STATUSES)
        .filter(claim_free_for(moderator))
        # Never offered: one's own uploads, and appeals of one's own rejections.
        .exclude(not_decidable_by(moderator))
    )


def _within(candidates, within):
    """Candidates narrowed to a filtered queue (the queue page's filters), if any."""
    return candidates if within is None else candidates.filter(pk__in=within.values("pk"))


def queue_claim_next(*, moderator, skip: list | None = None, within=None) -> Upload | None:
    """Claim the highest-priority item nobody else holds (among `within`, a
    filtered queue, when given). Two moderators asking at the same moment
    get different items (SKIP LOCKED on PostgreSQL; SQLite serialises
    writers). Skipped items are released at once, not left claimed until
    their claim expires."""
    with transaction.atomic():
        for skipped in skip or []:
            queue_claim_release(moderator=moderator, upload_id=skipped)
        candidates = _within(_claimable(moderator), within).exclude(pk__in=skip or []).order_by("-review_rank", "id")
        with upload_locked(among=candidates, skip_locked=True) as upload:
            if upload is not None:
                _claim(upload, moderator)
    return upload


def queue_claim_release(*, moderator, upload_id) -> bool:
    """Give back the moderator's own claim on an item at once (a skip), so the
    next moderator is offered it without waiting for the claim to expire.
    Another moderator's claim is left alone. True if a claim was released."""
    released = Upload.objects.filter(pk=upload_id, claimed_by=moderator).update(claimed_by=None, claimed_until=None)
    return bool(released)


def queue_step(*, moderator, current_id, direction: str = "next", within=None) -> Upload | None:
    """Keyboard review: release the claim on the current item and claim its
    neighbour in queue order (J: the next one; K: the previous one), so a
    moderator walks through the queue without losing their place. Past the
    end, "next" starts again at the top; before the first, "previous" finds
    nothing (None) and the moderator keeps the current item. The current item's rank is read even if it has left the
    queue (decided), so the walk goes on from where it was. `within`: a
    filtered queue the walk stays in."""
    if direction not in ("next", "previous"):
        raise InvalidInput(f"Unknown direction {direction!r}.", code="invalid_direction")
    with transaction.atomic():
        current = Upload.objects.filter(pk=current_id).values("review_rank", "id").first()
        if current is None:
            raise NotFound("No such upload.")
        rank, pk = current["review_rank"], current["id"]
        candidates = _within(_claimable(moderator), within).exclude(pk=pk)
        if direction == "next":
            ordered = candidates.filter(Q(review_rank__lt=rank) | Q(review_rank=rank, id__gt=pk)).order_by(
                "-review_rank", "id"
            )
        else:
            ordered = candidates.filter(Q(review_rank__gt=rank) | Q(review_rank=rank, id__lt=pk)).order_by(
                "review_rank", "-id"
            )
        with upload_locked(among=ordered, skip_locked=True) as upload:
            if upload is not None:
                _claim(upload, moderator)
        if upload is None and direction == "next":
            with upload_locked(among=candidates.order_by("-review_rank", "id"), skip_locked=True) as upload:
                if upload is not None:
                    _claim(upload, moderator)
        # Released only when the moderator leaves it: K before the first item
        # stays on it, still held (else the top of the queue is offered away).
        if upload is not None or direction == "next":
            queue_claim_release(moderator=moderator, upload_id=pk)
    return upload


def queue_claim(*, moderator, upload_id) -> Upload:
    """Claim one item (opening it). Raises Conflict if someone else holds it,
    and Forbidden, claiming nothing, if the moderator may not decide it (their
    own upload, or the appeal of their own rejection): opening such an item
    must not keep the moderator who may decide it waiting."""
    with upload_locked(upload_id) as upload:
        if upload is None:
            raise NotFound("No such upload.")
        if upload.status not in REVIEWABLE_STATUSES:
            return upload
        duties_check(upload=upload, moderator=moderator)
        if claim_held_by_other(upload, moderator):
            raise Conflict(
                f"{upload.claimed_by} is reviewing this item until {upload.claimed_until:%H:%M:%S}.",
                code="claimed_by_other",
                detail={"claimed_by": str(upload.claimed_by)},
            )
        _claim(upload, moderator)
    return upload


def _claim(upload: Upload, moderator) -> None:
    """Hold a locked upload for `moderator` (saved on leaving upload_locked)."""
    upload.claimed_by = moderator
    upload.claimed_until = timezone.now() + timedelta(seconds=settings.REVIEW_CLAIM_SECONDS)

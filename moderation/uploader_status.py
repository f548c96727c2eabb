"""What an uploader is told about a post, in plain words: the badge, why it
is held or rejected (the category or flag, never a raw score), how long a
held post may wait, and the notices of decisions. Pure functions of rows the
caller has read (selectors.uploader_posts prefetches them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from moderation.humanize import duration_words
from moderation.models import AppealStatus, FlagKind, RejectReason, Upload, UploadStatus, Verdict

# Why a flag holds or rejects a post, as the uploader reads it.
_FLAG_WORDS = {
    FlagKind.PROHIBITED_CLASS: "it looks like {article} {category}, which may not be posted",
    FlagKind.ADULT: "it may show adult content",
    FlagKind.PROHIBITED_GOODS: "it may show prohibited goods ({category})",
    FlagKind.HASH_MATCH: "it matches an image that was removed before",
    FlagKind.LISTING_MISMATCH: "it does not seem to show what the listing says ({category})",
}


# A moderator's reject reason, as the uploader reads it.
_REJECT_WORDS = {
    RejectReason.PROHIBITED_ITEM: "it shows an item that may not be posted",
    RejectReason.ADULT: "it shows adult content",
    RejectReason.VIOLENCE: "it shows violence or gore",
    RejectReason.SPAM: "it is spam or a scam",
    RejectReason.OTHER: "it breaks the content rules",
}


@dataclass(frozen=True)
class Badge:
    text: str
    tone: str  # ok | bad | wait (the stylesheet's badge colours)


@dataclass(frozen=True)
class WaitEstimate:
    """How long a held post may wait: its place in the review queue and the
    moderators' pace over the last day (None when nobody decided anything)."""

    ahead: int
    decided_per_hour: float

    @property
    def minutes(self) -> int | None:
        if self.decided_per_hour <= 0:
            return None
        return max(1, round((self.ahead + 1) / self.decided_per_hour * 60))

    def text(self) -> str:
        waiting = {0: "no other post is", 1: "1 post is"}.get(self.ahead, f"{self.ahead} posts are")
        if self.minutes is None:
            return f"A moderator will look at it; {waiting} ahead of it. Most posts are decided within a day."
        return f"A moderator will look at it in about {duration_words(self.minutes)}; {waiting} ahead of it."


def _flag_phrase(flag) -> str:
    words = _FLAG_WORDS.get(flag.kind, "it was flagged ({category})")
    category = flag.category.replace("_", " ")
    article = "an" if category[:1].lower() in "aeiou" else "a"
    return words.format(category=category, article=article)


def _moderator_reject(upload: Upload):
    """The latest reject decision, from prefetched decisions when present
    (one its moderator undid is no decision)."""
    decisions = sorted(
        (d for d in upload.decisions.all() if d.undone_at is None), key=lambda d: d.created_at, reverse=True
    )
    latest = decisions[0] if decisions else None
    return latest if latest is not None and latest.verdict == Verdict.REJECT else None


def _appeal(upload: Upload):
    try:
        return upload.appeal
    except Upload.appeal.RelatedObjectDoesNotExist:
        return None


def appeal_outcome(status: str) -> str:
    """An appeal's outcome in the one vocabulary of pages, notifications, the
    API and webhooks (AppealStatus): the rejection is overturned or upheld."""
    return AppealStatus(status).label.lower()  # "rejection overturned", "rejection upheld"


def badge(upload: Upload) -> Badge:
    appeal = _appeal(upload)
    if upload.status == UploadStatus.APPROVED:
        if appeal is not None and appeal.status == AppealStatus.OVERTURNED:
            return Badge(f"Published — {appeal_outcome(appeal.status)} on appeal", "ok")
        return Badge("Published", "ok")
    if upload.status == UploadStatus.REJECTED:
        if appeal is not None and appeal.status == AppealStatus.UPHELD:
            return Badge(f"Rejected — {appeal_outcome(appeal.status)} on appeal", "bad")
        return Badge("Rejected", "bad")
    if upload.status == UploadStatus.APPEALED:
        return Badge("Appeal under review", "wait")
    if upload.status == UploadStatus.IN_REVIEW:
        return Badge("Held for review", "wait")
    if upload.status == UploadStatus.FAILED:
        return Badge("Could not be checked", "bad")
    return Badge("Being checked", "wait")


def reason(upload: Upload) -> str:
    """Why the post is where it is, in a sentence ("" when there is nothing to say)."""
    flags = list(upload.flags.all())
    if upload.status == UploadStatus.REJECTED:
        decision = _moderator_reject(upload)
        if decision is not None:
            why = _REJECT_WORDS.get(decision.reason_code, _REJECT_WORDS[RejectReason.OTHER])
            return f"A moderator rejected it because {why}."
        rejecting = [f for f in flags if f.action == "reject"] or flags
        if rejecting:
            return "It was rejected because " + "; ".join(_flag_phrase(f) for f in rejecting[:2]) + "."
        return "It was rejected by the content policy."
    if upload.status in (UploadStatus.IN_REVIEW, UploadStatus.APPEALED):
        if upload.status == UploadStatus.APPEALED:
            return "A different moderator is looking at your appeal."
        if flags:
            return "It is held because " + "; ".join(_flag_phrase(f) for f in flags[:2]) + "."
        return "It is held because the checks were not sure what it shows."
    if upload.status == UploadStatus.FAILED:
        return "We could not read this image. Try posting it again, or as a JPEG or PNG."
    return ""


@dataclass(frozen=True)
class Notice:
    at: datetime
    upload: Upload
    text: str
    tone: str


def notices(uploads: list[Upload]) -> list[Notice]:
    """A notice per decision on these posts (the policy's or a moderator's
    verdict, an appeal's outcome), newest first."""
    found: list[Notice] = []
    for upload in uploads:
        name = f"“{upload.caption[:60]}”" if upload.caption else "Your post"
        appeal = _appeal(upload)
        if appeal is not None and appeal.decided_at is not None:
            outcome = appeal_outcome(appeal.status)
            if appeal.status == AppealStatus.OVERTURNED:
                found.append(Notice(appeal.decided_at, upload, f"{name}: {outcome} on appeal; it is published.", "ok"))
            else:
                found.append(
                    Notice(appeal.decided_at, upload, f"{name}: {outcome} on appeal; it stays rejected.", "bad")
                )
            continue
        if upload.verdict_at is None or upload.status == UploadStatus.APPEALED:
            continue
        current = badge(upload)
        because = reason(upload)
        text = f"{name}: {current.text.lower()}." + (f" {because}" if because else "")
        found.append(Notice(upload.verdict_at, upload, text, current.tone))
    return sorted(found, key=lambda n: n.at, reverse=True)


def status_payload(upload: Upload, estimate: WaitEstimate | None) -> dict:
    """The small JSON a page polls for one post's live status."""
    current = badge(upload)
    appeal = _appeal(upload)
    return {
        "id": str(upload.pk),
        "status": upload.status,
        "settled": upload.status not in (UploadStatus.PENDING, UploadStatus.PROCESSING),
        "final": upload.status in (UploadStatus.APPROVED, UploadStatus.REJECTED, UploadStatus.FAILED),
        "badge": current.text,
        "tone": current.tone,
        "reason": reason(upload),
        "estimate": estimate.text() if estimate is not None else "",
        "can_appeal": upload.status == UploadStatus.REJECTED and appeal is None,
        "categories": [name for name, _score in upload.top_categories],
    }

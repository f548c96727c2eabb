"""Separation of duties: who may decide (and so claim) which upload.

Checked where the data changes (deciding, claiming, bulk deciding), not only
in the pages: nobody decides their own upload or their own appeal, also when
the policy and not a person rejected it, and the moderator who rejected an
upload never decides its appeal."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q

from moderation.errors import Forbidden
from moderation.models import Appeal, Decision, Upload, UploadStatus, Verdict


def duties_refusal(*, upload: Upload, moderator) -> Forbidden | None:
    """Why `moderator` may not decide `upload`, or None if they may."""
    if upload.uploader_id is not None and upload.uploader_id == moderator.pk:
        return Forbidden("Nobody decides their own upload or their own appeal.", code="own_upload")
    if upload.status == UploadStatus.APPEALED:
        rejected_by = Appeal.objects.filter(upload=upload).values_list("rejected_by_id", flat=True).first()
        rejected_it = (
            rejected_by == moderator.pk
            or Decision.objects.filter(upload=upload, moderator=moderator, verdict=Verdict.REJECT).exists()
        )
        if rejected_it:
            return Forbidden(
                "An appeal is decided by a moderator other than the one who rejected the upload.", code="same_moderator"
            )
    return None


def duties_check(*, upload: Upload, moderator) -> None:
    """Raise Forbidden unless `moderator` may decide `upload`."""
    refusal = duties_refusal(upload=upload, moderator=moderator)
    if refusal is not None:
        raise refusal


def not_decidable_by(moderator) -> Q:
    """The uploads `moderator` may not decide, as a filter (the same rules as
    duties_refusal), so that queues and grids never offer them."""
    rejected_by_them = Decision.objects.filter(upload=OuterRef("pk"), moderator=moderator, verdict=Verdict.REJECT)
    return Q(uploader=moderator) | (
        Q(status=UploadStatus.APPEALED) & (Q(appeal__rejected_by=moderator) | Q(Exists(rejected_by_them)))
    )

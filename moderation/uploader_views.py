"""The uploader's pages beyond the upload form: a post's live status (a
small JSON the pages poll) and the list of notices of decisions."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

from moderation import selectors
from moderation.models import UploadStatus
from moderation.uploader_status import notices, status_payload

# The session remembers when the person last opened the notifications list,
# so the navigation can count what is new since.
SEEN_KEY = "notifications_seen_at"


@login_required
def post_status(request: HttpRequest, upload_id) -> JsonResponse:
    """One of the person's own posts: status, badge, the reason in plain words,
    the expected wait while held. Anyone else's post is a 404."""
    upload = selectors.uploader_post(user=request.user, upload_id=upload_id)
    if upload is None:
        raise Http404
    waiting = upload.status in (UploadStatus.IN_REVIEW, UploadStatus.APPEALED)
    estimate = selectors.review_wait_estimate(upload=upload) if waiting else None
    response = JsonResponse(status_payload(upload, estimate))
    response["Cache-Control"] = "no-store"
    return response


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    seen = request.session.get(SEEN_KEY)
    found = notices(selectors.uploader_notified(user=request.user))
    request.session[SEEN_KEY] = timezone.now().isoformat()
    return render(request, "moderation/notifications.html", {"notices": found, "seen": seen})


def unread_count(request: HttpRequest) -> int:
    """Decisions on the person's posts since the last visit to the list."""
    from datetime import datetime

    seen_raw = request.session.get(SEEN_KEY)
    return selectors.uploader_unread_count(
        user=request.user, since=datetime.fromisoformat(seen_raw) if seen_raw else None
    )


def navigation(request: HttpRequest) -> dict:
    """Context processor: the unread count, counted only when a page shows it
    (uploaders' navigation; moderators have their queue instead)."""
    from django.utils.functional import SimpleLazyObject

    if not request.user.is_authenticated:
        return {}
    return {"unread_notices": SimpleLazyObject(lambda: unread_count(request))}

"""An upload submitted through `POST /api/v1/uploads/`, by a partner's key or
a signed-in person: the daily quota, the Idempotency-Key, the creation itself
(`services.uploads`), and the optional wait for the verdict.

The per-request rate limits are counted before the body is read
(`moderation.api.throttling`); the byte cap and every check of the image are
`upload_create`'s (through `moderation.validation`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from django.conf import settings

from moderation.models import SETTLED_STATUSES, ApiKey, Upload
from moderation.selectors import ClassificationBacklog, upload_just_created, uploads_visible_to
from moderation.services.backpressure import backlog_current
from moderation.services.notify import wait_until_settled
from moderation.services.ratelimit import check_daily_quota
from moderation.services.uploads import upload_create, upload_create_idempotent

MAX_WAIT_SECONDS = 10.0


class _Content(TypedDict):
    data: bytes
    filename: str
    caption: str
    external_id: str
    declared_category: str


@dataclass(frozen=True)
class Submission:
    upload: Upload  # read through uploads_visible_to, ready for its representation
    settled: bool  # the worker is done with it (a verdict, review or failure): 201, else 202
    replayed: bool  # the Idempotency-Key's earlier upload, not a new one
    backlog: ClassificationBacklog  # the classification queue it joined (the 202's hint)


def upload_submit(
    *,
    data: bytes,
    filename: str = "",
    caption: str = "",
    external_id: str = "",
    declared_category: str = "",
    api_key: ApiKey | None = None,
    user=None,
    idempotency_key: str | None = None,
    wait: float = 0.0,
) -> Submission:
    """Create an upload for a partner (`api_key`) or a person (`user`), and wait
    up to `wait` seconds (0 to MAX_WAIT_SECONDS) for the worker to settle it.

    A partner's upload counts against its key's daily quota (429
    `quota_exceeded`) and may carry an `idempotency_key`: the same key with the
    same request gives the first upload back (`replayed`). A refused upload
    raises an ApplicationError and leaves no row and no file; past the
    classification backlog's bound that is 503 `queue_full` (services.backpressure).
    When the queue's expected delay exceeds `wait`, the answer comes at once
    instead of holding a web thread for a verdict that cannot come in time."""
    fields = _Content(
        data=data, filename=filename, caption=caption, external_id=external_id, declared_category=declared_category
    )
    replayed = False
    if api_key is not None:
        partner = api_key.partner
        check_daily_quota(api_key)
        if idempotency_key is not None:
            upload, created = upload_create_idempotent(key=idempotency_key, partner=partner, **fields)
            replayed = not created
        else:
            upload = upload_create(**fields, partner=partner)
        visible = uploads_visible_to(partner=partner)
    else:
        upload = upload_create(**fields, uploader=user)
        visible = uploads_visible_to(user=user)
    backlog = backlog_current()
    if wait and (delay := backlog.expected_delay_seconds) is not None and delay > wait:
        wait = 0.0
    settled = upload_wait_settled(upload_id=upload.pk, visible=visible, timeout=wait)
    if settled or wait or replayed or settings.API_READ_BACK_ACCEPTED:
        upload = visible.get(pk=upload.pk)
    else:
        upload = upload_just_created(upload)  # nothing can be said of it yet: no queries
    return Submission(
        upload=upload, settled=settled or upload.status in SETTLED_STATUSES, replayed=replayed, backlog=backlog
    )


def upload_wait_settled(*, upload_id, visible, timeout: float) -> bool:
    """Wait up to `timeout` seconds for the worker to settle the upload (a
    Redis subscription; no database connection held while waiting). True if
    it did. Answers at once when `timeout` is 0 or every waiting place of this
    process is taken (services.notify.wait_slot)."""
    if timeout <= 0:
        return False
    return wait_until_settled(
        upload_id, timeout, lambda: visible.filter(pk=upload_id, status__in=SETTLED_STATUSES).exists()
    )

"""An upload's lifecycle in one place: lock the row, move it, save what
changed, tell whoever waits.

Every write to an existing upload row goes through here:

    with upload_locked(upload_id) as upload:      # atomic + SELECT … FOR UPDATE
        if upload is None: ...                    # gone (or not among the rows asked for)
        upload_transition(upload, UploadStatus.FAILED)   # allowed moves: models.UPLOAD_TRANSITIONS
        upload.failure_reason = reason
    # leaving the block saves exactly the fields that changed and publishes the move

`upload_save` saves earlier inside the block, when later writes of the same
transaction need the new state in the row. Publishing follows from the move
itself, so no caller lists it: an upload that settles (leaves pending or
processing) wakes the API request waiting for it, after commit; an upload
that becomes approved or rejected queues the partner's webhooks (the event
`appeal.decided` when it was appealed, `upload.decided` otherwise).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from django.db import models, transaction
from django.db.models import QuerySet
from django.utils import timezone

from moderation.models import SETTLED_STATUSES, UPLOAD_TRANSITIONS, Upload, UploadStatus
from moderation.services.notify import publish_settled
from moderation.services.webhooks import webhooks_notify

DECIDED = frozenset({UploadStatus.APPROVED, UploadStatus.REJECTED})


class InvalidTransition(RuntimeError):
    pass


def upload_transition(upload: Upload, to: str) -> None:
    """Move `upload` to status `to` in memory, or raise if the move is not
    allowed. Saved (and published) by `upload_save` or on leaving `upload_locked`."""
    if to not in UPLOAD_TRANSITIONS[upload.status]:
        raise InvalidTransition(f"upload {upload.pk}: {upload.status} -> {to} is not allowed")
    upload.status = to
    if to in SETTLED_STATUSES:
        upload.verdict_at = timezone.now()


def _value(upload: Upload, field: models.Field) -> Any:
    value = getattr(upload, field.attname)
    if isinstance(field, models.FileField):
        return value.name if value else ""
    return copy.deepcopy(value) if isinstance(value, dict | list) else value


def _snapshot(upload: Upload) -> dict[str, Any]:
    return {field.attname: _value(upload, field) for field in upload._meta.concrete_fields}


def upload_lock(
    upload_id: Any = None, *, among: QuerySet[Upload] | None = None, skip_locked: bool = False
) -> Upload | None:
    """Lock one upload row until the transaction ends (call it inside one) and
    remember its fields, for `upload_save`. With `among`, the row is the first
    of those rows in their order (and must be one of them when `upload_id` is
    given too); None when there is none. `skip_locked` passes over rows
    another transaction holds (PostgreSQL)."""
    if upload_id is None and among is None:
        raise TypeError("upload_lock needs an upload id, rows to choose from, or both")
    rows = Upload.objects.all() if among is None else among
    if upload_id is not None:
        rows = rows.filter(pk=upload_id)
    upload = rows.select_for_update(skip_locked=skip_locked, of=("self",)).first()
    if upload is not None:
        upload._lifecycle_saved = _snapshot(upload)  # type: ignore[attr-defined]
    return upload


def upload_save(upload: Upload, *, touch: bool = False, publish_delay: float = 0.0) -> list[str]:
    """Save exactly the fields of a locked upload that changed since it was
    locked (or last saved here), and publish its move if its status changed.
    `touch` saves `updated_at` even when nothing else changed (the sweeper's
    mark that it has just re-queued the upload); `publish_delay` holds the
    webhooks back that many seconds (a decision's undo window). Returns the
    fields saved."""
    saved: dict[str, Any] | None = getattr(upload, "_lifecycle_saved", None)
    if saved is None:
        raise RuntimeError("upload_save needs an upload from upload_lock or upload_locked")
    now = _snapshot(upload)
    changed = [name for name, value in now.items() if value != saved[name] and name != "updated_at"]
    if not changed and not touch:
        return []
    fields = [upload._meta.get_field(name).name for name in changed] + ["updated_at"]
    upload.save(update_fields=fields)
    upload._lifecycle_saved = _snapshot(upload)  # type: ignore[attr-defined]
    if "status" in changed:
        _publish(upload, before=saved["status"], delay=publish_delay)
    return fields


def _publish(upload: Upload, *, before: str, delay: float = 0.0) -> None:
    if before not in SETTLED_STATUSES and upload.status in SETTLED_STATUSES:
        transaction.on_commit(partial(publish_settled, upload.pk))
    if upload.status in DECIDED:
        event = "appeal.decided" if before == UploadStatus.APPEALED else "upload.decided"
        webhooks_notify(upload=upload, event=event, delay=delay)


@contextmanager
def upload_locked(
    upload_id: Any = None, *, among: QuerySet[Upload] | None = None, skip_locked: bool = False
) -> Iterator[Upload | None]:
    """A transaction holding one upload row (`upload_lock`; None when there is
    none). Leaving the block normally saves what changed (`upload_save`); an
    exception rolls everything back."""
    with transaction.atomic():
        upload = upload_lock(upload_id, among=among, skip_locked=skip_locked)
        yield upload
        if upload is not None:
            upload_save(upload)

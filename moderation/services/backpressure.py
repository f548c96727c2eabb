"""Back-pressure on classification: how long the queue in front of the models
is, what a client is told about it, and the bound past which new uploads are
refused instead of queued.

Every accepted upload is a row before it is a message (the sweeper queues
again whatever a broker lost), so what was accepted is classified however
long it waits. What this bounds is the promise: past UPLOAD_BACKLOG_LIMIT
uploads waiting, the API answers 503 `queue_full` with Retry-After before
reading or storing anything, rather than accepting work whose verdict would
come minutes later. The count is `selectors.classification_backlog`, read at
most every UPLOAD_BACKLOG_CHECK_SECONDS per web process, so a burst may pass
the bound by what arrives in that time.
"""

from __future__ import annotations

import math
import threading
import time

from django.conf import settings

from moderation.errors import Overloaded
from moderation.selectors import ClassificationBacklog, classification_backlog

# Retry-After when uploads wait and nothing settled lately (no pace to go by).
UNKNOWN_PACE_RETRY_SECONDS = 30
MAX_RETRY_SECONDS = 300

_lock = threading.Lock()
_last: tuple[float, ClassificationBacklog] | None = None


def backlog_current() -> ClassificationBacklog:
    """The classification backlog, at most UPLOAD_BACKLOG_CHECK_SECONDS old
    (per process: the API asks on every upload)."""
    global _last
    now = time.monotonic()
    held = _last
    if held is not None and now - held[0] < settings.UPLOAD_BACKLOG_CHECK_SECONDS:
        return held[1]
    backlog = classification_backlog()
    with _lock:
        _last = (now, backlog)
    return backlog


def backlog_forget() -> None:
    """Drop this process's remembered backlog (tests)."""
    global _last
    with _lock:
        _last = None


def backlog_admit() -> ClassificationBacklog:
    """The backlog a new upload joins; raises Overloaded (503 queue_full) when
    UPLOAD_BACKLOG_LIMIT uploads already wait (0: no bound)."""
    backlog = backlog_current()
    limit = settings.UPLOAD_BACKLOG_LIMIT
    if limit and backlog.depth >= limit:
        # Come back when a tenth of the bound is free again, at the recent pace.
        if backlog.verdicts_per_second > 0:
            retry = (backlog.depth - 0.9 * limit) / backlog.verdicts_per_second
        else:
            retry = UNKNOWN_PACE_RETRY_SECONDS
        raise Overloaded(
            f"{backlog.depth} uploads are waiting for classification (the bound is {limit}); "
            "nothing was stored: send this upload again after Retry-After seconds.",
            retry_after=min(MAX_RETRY_SECONDS, math.ceil(retry)),
            detail=backlog_hint(backlog),
        )
    return backlog


def backlog_hint(backlog: ClassificationBacklog) -> dict[str, float | int | None]:
    """What a client is told about the queue its upload joined (the 202 body's
    `queue`, and the metrics)."""
    delay = backlog.expected_delay_seconds
    return {
        "depth": backlog.depth,
        "verdicts_per_second": round(backlog.verdicts_per_second, 2),
        "expected_delay_seconds": None if delay is None else round(delay, 1),
    }


def backlog_retry_after(backlog: ClassificationBacklog) -> int:
    """Seconds after which polling for a queued upload's verdict is worth it."""
    delay = backlog.expected_delay_seconds
    if delay is None:
        return UNKNOWN_PACE_RETRY_SECONDS
    return max(1, min(MAX_RETRY_SECONDS, math.ceil(delay)))

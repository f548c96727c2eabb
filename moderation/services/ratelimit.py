"""Per-key rate limits (burst and sustained) and a daily upload quota, counted
in the shared cache (Redis in production), so every web process sees the
same counts. Fixed windows: simple, and atomic with the cache's incr."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from django.core.cache import cache

from moderation.errors import RateLimited
from moderation.models import ApiKey

logger = logging.getLogger(__name__)

BURST_WINDOW = 10
SUSTAINED_WINDOW = 3600


def _count(key: str, window: int) -> tuple[int, int]:
    """Increment a window's counter; return (count, seconds until the window ends)."""
    now = time.time()
    start = int(now // window) * window
    name = f"rl:{key}:{window}:{start}"
    cache.add(name, 0, timeout=window + 5)
    try:
        count = cache.incr(name)
    except ValueError:  # expired between add and incr
        cache.set(name, 1, timeout=window + 5)
        count = 1
    return count, int(start + window - now) + 1


def _counting_works(fn):
    """Limits fail open: if the shared cache is down, uploads are still taken
    (and logged) rather than refused or failed."""

    def wrapper(api_key: ApiKey) -> None:
        try:
            fn(api_key)
        except RateLimited:
            raise
        except Exception:  # noqa: BLE001 - Redis down or similar
            logger.warning("rate-limit counters unavailable; not limiting key %s", api_key.pk, exc_info=True)

    return wrapper


@_counting_works
def check_rate(api_key: ApiKey) -> None:
    partner = api_key.partner
    for window, limit, label in ((BURST_WINDOW, partner.burst_limit, "burst"),
                                 (SUSTAINED_WINDOW, partner.sustained_limit, "sustained")):
        count, retry_after = _count(f"{api_key.pk}:{label}", window)
        if count > limit:
            raise RateLimited(f"Rate limit exceeded: {limit} requests per {window} seconds for this key.",
                              retry_after=retry_after, detail={"limit": limit, "window_seconds": window})


@_counting_works
def check_daily_quota(api_key: ApiKey) -> None:
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    name = f"quota:{api_key.pk}:{now:%Y%m%d}"
    cache.add(name, 0, timeout=int((midnight - now).total_seconds()) + 60)
    count = cache.incr(name)
    limit = api_key.partner.daily_quota
    if count > limit:
        raise RateLimited(f"Daily quota of {limit} uploads used up for this key.", code="quota_exceeded",
                          retry_after=int((midnight - now).total_seconds()) + 1, detail={"quota": limit})

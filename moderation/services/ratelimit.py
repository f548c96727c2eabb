"""Rate limits (burst and sustained windows) and daily quotas, counted in the
shared cache (Redis in production), so every web process sees the same
counts. Fixed windows: simple, and atomic with the cache's incr (on Redis, one
script call counts all of a request's windows).

One mechanism serves every kind of caller: partners' API keys (limits on the
Partner row), signed-in people uploading through the web (limits in settings),
sign-up (per client address and for the whole site) and password reset mails
(per client address, per e-mail address and per account)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ResponseError

from moderation.errors import RateLimited
from moderation.models import ApiKey, UploaderLimit

logger = logging.getLogger(__name__)

BURST_WINDOW = 10
SUSTAINED_WINDOW = 3600


def _now() -> float:
    """The clock the windows are counted on (tests fix it)."""
    return time.time()


# One round trip for a request's counters on Redis: each is incremented in
# order (and given its lifetime when it is new), stopping after the first that
# passes its limit, exactly as counting them one by one did.
_COUNT_SCRIPT = """
local counts = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('EXPIRE', key, ARGV[2 * i - 1]) end
  counts[i] = count
  if count > tonumber(ARGV[2 * i]) then break end
end
return counts
"""
_script = None  # redis-py's Script: its SHA, loaded into Redis again when Redis forgot it
_scripting = True  # False once this Redis refused scripts (an ACL without @scripting, some proxies)


def _counts(counters: list[tuple[str, int, int]]) -> list[int]:
    """Count one request in each (name, lifetime seconds, limit) counter, in
    order, stopping after the first whose count passes its limit; the counts
    taken. Atomic per counter: one script call on Django's RedisCache, the
    cache's add and incr on any other cache (django-redis's included)."""
    global _script, _scripting
    cache = caches["default"]
    if _scripting and isinstance(cache, RedisCache):
        client = cache._cache.get_client(write=True)
        keys = [cache.make_and_validate_key(name) for name, _, _ in counters]
        args = [value for _, lifetime, limit in counters for value in (lifetime, limit)]
        try:
            if _script is None:
                _script = client.register_script(_COUNT_SCRIPT)
            return [int(count) for count in _script(keys=keys, args=args, client=client)]
        except ResponseError:  # a connection error is not one: the limits fail open
            logger.warning("Redis refused the rate-limit script; counting command by command", exc_info=True)
            _scripting = False
    counts = []
    for name, lifetime, limit in counters:
        cache.add(name, 0, timeout=lifetime)
        try:
            count = cache.incr(name)
        except ValueError:  # expired between add and incr
            cache.set(name, 1, timeout=lifetime)
            count = 1
        counts.append(count)
        if count > limit:
            break
    return counts


def _window(key: str, window: int) -> tuple[str, int]:
    """The counter of the fixed window `now` falls in, and the seconds until it ends."""
    now = _now()
    start = int(now // window) * window
    return f"rl:{key}:{window}:{start}", int(start + window - now) + 1


def _fail_open(subject: str, check) -> None:
    """Limits fail open: if the shared cache is down, requests are still taken
    (and logged) rather than refused or failed."""
    try:
        check()
    except RateLimited:
        raise
    except Exception:  # noqa: BLE001 - Redis down or similar
        logger.warning("rate-limit counters unavailable; not limiting %s", subject, exc_info=True)


def limit_windows(
    *, subject: str, limits: Iterable[tuple[int, int, str]], message: str, code: str = "rate_limited"
) -> None:
    """Count one request of `subject` in each (window seconds, limit, label)
    window; raise RateLimited when any count passes its limit. `message` is
    formatted with {limit} and {window}."""
    limits = list(limits)

    def check() -> None:
        windows = [_window(f"{subject}:{label}", window) for window, _, label in limits]
        counts = _counts(
            [(name, window + 5, limit) for (name, _), (window, limit, _) in zip(windows, limits, strict=True)]
        )
        for count, (_, retry_after), (window, limit, _) in zip(counts, windows, limits, strict=False):
            if count > limit:
                raise RateLimited(
                    message.format(limit=limit, window=window),
                    code=code,
                    retry_after=retry_after,
                    detail={"limit": limit, "window_seconds": window},
                )

    _fail_open(subject, check)


def limit_daily(*, subject: str, quota: int, message: str, code: str = "quota_exceeded") -> None:
    """Count one unit of `subject`'s UTC-day quota; raise RateLimited once it is used up."""

    def check() -> None:
        now = datetime.fromtimestamp(_now(), UTC)
        midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        name = f"quota:{subject}:{now:%Y%m%d}"
        (count,) = _counts([(name, int((midnight - now).total_seconds()) + 60, quota)])
        if count > quota:
            raise RateLimited(
                message.format(quota=quota),
                code=code,
                retry_after=int((midnight - now).total_seconds()) + 1,
                detail={"quota": quota},
            )

    _fail_open(subject, check)


def check_rate(api_key: ApiKey, *, upload: bool = False) -> None:
    """One request of a partner's key: uploads and every other request (reads,
    polls, appeals, webhooks) are counted apart, each in a burst and an hourly
    window, so that polling for verdicts never stops a batch of uploads."""
    partner = api_key.partner
    if upload:
        limit_windows(
            subject=f"key:{api_key.pk}:upload",
            limits=(
                (BURST_WINDOW, partner.upload_burst_limit, "burst"),
                (SUSTAINED_WINDOW, partner.upload_hourly_limit, "sustained"),
            ),
            message="Upload rate limit exceeded: {limit} uploads per {window} seconds for this key.",
        )
        return
    limit_windows(
        subject=f"key:{api_key.pk}",
        limits=((BURST_WINDOW, partner.burst_limit, "burst"), (SUSTAINED_WINDOW, partner.sustained_limit, "sustained")),
        message="Rate limit exceeded: {limit} requests (other than uploads) per {window} seconds for this key.",
    )


def check_daily_quota(api_key: ApiKey) -> None:
    limit_daily(
        subject=f"key:{api_key.pk}",
        quota=api_key.partner.daily_quota,
        message="Daily quota of {quota} uploads used up for this key.",
    )


def check_user_upload(user) -> None:
    """A signed-in person's uploads: the same burst, hourly and daily limits
    partners have; the numbers come from the person's UploaderLimit row, or
    from settings (USER_UPLOAD_*) when there is none."""
    own = UploaderLimit.objects.filter(user_id=user.pk).first()
    burst, hourly, daily = (
        (own.burst_limit, own.hourly_limit, own.daily_quota)
        if own
        else (settings.USER_UPLOAD_BURST_LIMIT, settings.USER_UPLOAD_HOURLY_LIMIT, settings.USER_UPLOAD_DAILY_QUOTA)
    )
    subject = f"user:{user.pk}"
    limit_windows(
        subject=subject,
        limits=((BURST_WINDOW, burst, "burst"), (SUSTAINED_WINDOW, hourly, "sustained")),
        message="Too many uploads: at most {limit} every {window} seconds. Please wait a little.",
    )
    limit_daily(
        subject=subject,
        quota=daily,
        message="You have used today's quota of {quota} uploads; it renews at midnight UTC.",
    )


def check_signup(*, address: str) -> None:
    """Sign-ups per client address and for the whole site, per hour."""
    message = "Too many accounts were created recently; please try again later."
    limit_windows(
        subject=f"signup:{address}",
        limits=((SUSTAINED_WINDOW, settings.SIGNUP_PER_ADDRESS_HOURLY, "sustained"),),
        message=message,
        code="signup_rate_limited",
    )
    limit_windows(
        subject="signup:*",
        limits=((SUSTAINED_WINDOW, settings.SIGNUP_GLOBAL_HOURLY, "sustained"),),
        message=message,
        code="signup_rate_limited",
    )


def check_password_reset(*, address: str, email: str) -> None:
    """Password reset requests per client address and per e-mail address, per
    hour. Counted whether or not an account has that address, so that the
    refusal tells nobody which addresses have accounts."""
    message = "Too many password reset mails were asked for recently; please try again later."
    limit_windows(
        subject=f"reset:{address}",
        limits=((SUSTAINED_WINDOW, settings.PASSWORD_RESET_PER_ADDRESS_HOURLY, "sustained"),),
        message=message,
        code="password_reset_rate_limited",
    )
    limit_windows(
        subject=f"reset-mail:{email.strip().casefold()}",
        limits=((SUSTAINED_WINDOW, settings.PASSWORD_RESET_PER_EMAIL_HOURLY, "sustained"),),
        message=message,
        code="password_reset_rate_limited",
    )


def password_reset_account_admit(user) -> bool:
    """Whether one more reset mail may go to this account this hour. Over its
    limit the mail is not sent and the page answers as if it were (a refusal
    would say that the address has an account)."""
    try:
        limit_windows(
            subject=f"reset-account:{user.pk}",
            limits=((SUSTAINED_WINDOW, settings.PASSWORD_RESET_PER_ACCOUNT_HOURLY, "sustained"),),
            message="",
        )
    except RateLimited:
        return False
    return True

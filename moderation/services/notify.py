"""Tell a waiting API request that its upload settled.

With Redis, the worker publishes on a channel and the web process blocks on
its subscription (no polling, no database connection held). Without Redis
(one laptop), the waiting side polls the row a few times a second."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import close_old_connections, connection

logger = logging.getLogger(__name__)


def _channel(upload_id) -> str:
    return f"moderation:settled:{upload_id}"


@functools.cache
def _client(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=15)


def _redis():
    # One client (and connection pool) per process and URL: a worker publishes
    # once per upload, and a new connection each time cost a TCP handshake.
    # redis-py's pool notices a fork and opens its own connections in the child.
    return _client(settings.REDIS_URL)


def publish_settled(upload_id) -> None:
    if not settings.REDIS_URL:
        return
    try:
        _redis().publish(_channel(upload_id), "1")
    except Exception:  # noqa: BLE001 - a waiting client falls back to 202; never fail the verdict for it
        logger.warning("could not publish settlement of %s", upload_id, exc_info=True)


def _release_connection() -> None:
    # Give the database connection back while we wait (not possible inside a
    # transaction, e.g. ATOMIC_REQUESTS or a test case).
    if not connection.in_atomic_block:
        connection.close()


_waiters_lock = threading.Lock()
_waiters = 0


@contextmanager
def wait_slot() -> Iterator[bool]:
    """One of this process's API_MAX_CONCURRENT_WAITS waiting places, if one
    is free (yields False when none is): a waiting request holds a web thread,
    so only a few may wait at once and the rest answer at once."""
    global _waiters
    with _waiters_lock:
        granted = _waiters < settings.API_MAX_CONCURRENT_WAITS
        if granted:
            _waiters += 1
    try:
        yield granted
    finally:
        if granted:
            with _waiters_lock:
                _waiters -= 1


def wait_until_settled(upload_id, timeout: float, is_settled: Callable[[], bool]) -> bool:
    """Block up to `timeout` seconds until the upload settles; True if it did.
    Returns at once (after one look) when every waiting place is taken."""
    if is_settled():
        return True
    with wait_slot() as granted:
        return granted and _wait(upload_id, timeout, is_settled)


def _wait(upload_id, timeout: float, is_settled: Callable[[], bool]) -> bool:
    _release_connection()
    deadline = time.monotonic() + timeout
    if settings.REDIS_URL:
        pubsub = _redis().pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(_channel(upload_id))
            # The verdict may have landed between the first check and the subscription.
            if is_settled():
                return True
            _release_connection()
            while (remaining := deadline - time.monotonic()) > 0:
                if pubsub.get_message(timeout=remaining) is not None:
                    return True
            return False
        finally:
            pubsub.close()
            if not connection.in_atomic_block:
                close_old_connections()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        settled = is_settled()
        _release_connection()
        if settled:
            return True
    return False

"""Floods through the web (issue 16, item 3): signed-in uploads are limited and
counted against a daily quota, sign-up is throttled, an oversized body is
refused before it is read, a decompression bomb costs the web request almost
nothing, and `wait=` cannot hold every web thread."""

from __future__ import annotations

import asyncio
import io
import time

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from PIL import ImageFile

from moderation.errors import RateLimited
from moderation.models import Upload, UploaderLimit, UploadStatus
from moderation.services import ratelimit
from moderation.services.notify import wait_slot
from tests.helpers import fashion_png
from tests.security.bombs import png_bomb

pytestmark = pytest.mark.django_db

URL = "/api/v1/uploads/"


@pytest.fixture
def fixed_clock(monkeypatch):
    """The limits count in fixed windows: hold the clock inside one of them."""
    monkeypatch.setattr(ratelimit, "_now", lambda: 1_800_000_005.0)


def _person(name: str) -> Client:
    user = get_user_model().objects.create_user(name, password="a-long-password-1")
    client = Client()
    client.force_login(user)
    return client


def _upload(client: Client, data: bytes | None = None, query: str = ""):
    image = io.BytesIO(data if data is not None else fashion_png(0)[0])
    image.name = "a.png"
    return client.post(URL + query, {"image": image})


def test_signed_in_uploads_hit_the_burst_limit_then_the_daily_quota(settings, fixed_clock):
    settings.USER_UPLOAD_BURST_LIMIT, settings.USER_UPLOAD_HOURLY_LIMIT = 3, 1000
    settings.USER_UPLOAD_DAILY_QUOTA = 1000
    alice = _person("alice")
    codes = [_upload(alice).status_code for _ in range(3)]
    refused = _upload(alice)
    assert codes == [202, 202, 202]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 10
    assert Upload.objects.count() == 3  # the refused one stored nothing

    # Another person has their own counter; the quota is per day.
    settings.USER_UPLOAD_BURST_LIMIT, settings.USER_UPLOAD_DAILY_QUOTA = 1000, 2
    bob = _person("bob")
    assert [_upload(bob).status_code for _ in range(2)] == [202, 202]
    over = _upload(bob)
    assert over.status_code == 429
    assert over.json()["error"]["code"] == "quota_exceeded"
    assert Upload.objects.filter(uploader__username="bob").count() == 2


def test_a_persons_own_limits_replace_the_defaults(settings, fixed_clock):
    settings.USER_UPLOAD_BURST_LIMIT = settings.USER_UPLOAD_DAILY_QUOTA = 1
    judy = _person("judy")
    UploaderLimit.objects.create(
        user=get_user_model().objects.get(username="judy"),
        burst_limit=3,
        hourly_limit=3,
        daily_quota=3,
        note="trusted seller",
    )
    assert [_upload(judy).status_code for _ in range(4)] == [202, 202, 202, 429]


LIMITS = [(ratelimit.BURST_WINDOW, 5, "burst"), (ratelimit.SUSTAINED_WINDOW, 100, "sustained")]


def _count(subject: str, limits=LIMITS) -> None:
    """One request of `subject` against these windows (RateLimited when refused)."""
    ratelimit.limit_windows(subject=subject, limits=limits, message="{limit} per {window} s")


def _counter(subject: str, label: str, window: int) -> str:
    """The cache name of `subject`'s counter for the window the fixed clock is in."""
    return ratelimit._window(f"{subject}:{label}", window)[0]


@pytest.fixture
def redis_cache(settings):
    if "RedisCache" not in settings.CACHES["default"]["BACKEND"]:
        pytest.skip("the cache is not Redis (REDIS_URL unset)")
    from django.core.cache import caches

    return caches["default"]


def test_a_refused_request_is_not_counted_in_the_windows_after_the_one_that_refused(fixed_clock):
    """Counted in order, as one by one: the burst window refuses, and the
    hourly window does not count the refused requests (both cache kinds)."""
    from django.core.cache import cache

    subject = f"test-order-{time.time_ns()}"
    limits = [(ratelimit.BURST_WINDOW, 1, "burst"), (ratelimit.SUSTAINED_WINDOW, 100, "sustained")]
    _count(subject, limits)
    for _ in range(2):
        with pytest.raises(RateLimited) as refused:
            _count(subject, limits)
        assert refused.value.retry_after == 6  # the burst window ends 5 s after the fixed clock
    burst = _counter(subject, "burst", ratelimit.BURST_WINDOW)
    hourly = _counter(subject, "sustained", ratelimit.SUSTAINED_WINDOW)
    assert (cache.get(burst), cache.get(hourly)) == (3, 1)


def test_on_redis_an_uploads_limits_cost_one_round_trip(redis_cache, fixed_clock, monkeypatch):
    """Burst and hourly windows in one script call (they were an add, an
    exists and an incr each), counted in keys that expire with their window."""
    import redis.client

    commands: list[str] = []
    sent = redis.client.Redis.execute_command

    def counted(self, *args, **options):
        commands.append(str(args[0]))
        return sent(self, *args, **options)

    monkeypatch.setattr(redis.client.Redis, "execute_command", counted)
    subject = f"test-trips-{time.time_ns()}"
    _count(subject)  # loads the script
    commands.clear()
    _count(subject)
    assert commands == ["EVALSHA"]
    hourly = _counter(subject, "sustained", ratelimit.SUSTAINED_WINDOW)
    assert redis_cache.get(hourly) == 2
    lifetime = redis_cache._cache.get_client().ttl(redis_cache.make_and_validate_key(hourly))
    assert 0 < lifetime <= ratelimit.SUSTAINED_WINDOW + 5


def test_counting_goes_on_when_redis_forgot_the_script(redis_cache, fixed_clock):
    subject = f"test-flush-{time.time_ns()}"
    _count(subject)
    redis_cache._cache.get_client(write=True).script_flush()  # as a Redis restart does
    _count(subject)
    assert redis_cache.get(_counter(subject, "sustained", ratelimit.SUSTAINED_WINDOW)) == 2


def test_a_redis_that_refuses_scripts_still_limits(redis_cache, fixed_clock, monkeypatch):
    """An ACL without @scripting: counted command by command from then on, not let through."""
    import redis.client
    from redis.exceptions import NoPermissionError

    def refused(self, *args, **options):
        raise NoPermissionError("this user has no permissions to run the 'evalsha' command")

    monkeypatch.setattr(ratelimit, "_scripting", True)
    monkeypatch.setattr(redis.client.Redis, "evalsha", refused)
    subject = f"test-acl-{time.time_ns()}"
    limits = [(ratelimit.BURST_WINDOW, 1, "burst")]
    _count(subject, limits)
    with pytest.raises(RateLimited):
        _count(subject, limits)
    assert ratelimit._scripting is False


def test_limits_fail_open_when_redis_is_unreachable_mid_script(redis_cache, fixed_clock, monkeypatch, caplog):
    import redis.client
    from redis.exceptions import ConnectionError as RedisConnectionError

    def unreachable(self, *args, **options):
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(ratelimit, "_scripting", True)
    monkeypatch.setattr(redis.client.Redis, "evalsha", unreachable)
    _count("test-down", [(ratelimit.BURST_WINDOW, 0, "burst")])  # would refuse every request
    assert "rate-limit counters unavailable" in caplog.text
    assert ratelimit._scripting is True  # a blink, not a refusal: the script is tried again next time


@pytest.mark.parametrize(
    ("backend", "processes"),
    [("django.core.cache.backends.locmem.LocMemCache", 1), ("django.core.cache.backends.redis.RedisCache", 2)],
)
def test_a_process_local_cache_gets_one_web_process(settings, backend, processes):
    """`make run` without Redis counts limits in each process's memory: two web
    processes would each take a partner's whole burst (10 of 40 uploads taken
    at a limit of 5, found by trying it)."""
    from moderation.management.commands.run_platform import default_web_workers, platform_commands

    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": "redis://127.0.0.1:6379/9"}}
    assert default_web_workers() == processes
    web, _ = platform_commands(bind="127.0.0.1:8000", web_workers=default_web_workers(), concurrency=2)["web"]
    assert web[web.index("--workers") + 1] == str(processes)


def test_the_limit_is_checked_before_the_body_is_parsed(settings, fixed_clock, monkeypatch):
    settings.USER_UPLOAD_BURST_LIMIT = 1
    carol = _person("carol")
    assert _upload(carol).status_code == 202
    from django.http.multipartparser import MultiPartParser

    parsed = []
    original = MultiPartParser.parse
    monkeypatch.setattr(MultiPartParser, "parse", lambda self: parsed.append(1) or original(self))
    assert _upload(carol).status_code == 429
    assert parsed == []


def test_sign_up_is_throttled_per_address_and_for_the_whole_site(settings, fixed_clock):
    settings.SIGNUP_PER_ADDRESS_HOURLY, settings.SIGNUP_GLOBAL_HOURLY = 2, 3

    def sign_up(name: str, address: str):
        return Client(REMOTE_ADDR=address).post(
            "/accounts/signup/", {"username": name, "password1": "a-long-password-1", "password2": "a-long-password-1"}
        )

    assert [sign_up(f"u{i}", "198.51.100.1").status_code for i in range(2)] == [302, 302]
    third = sign_up("u2", "198.51.100.1")
    assert third.status_code == 429
    assert b"signup_rate_limited" in third.content and third["Retry-After"]
    # Another address may still sign up, until the site-wide limit.
    assert sign_up("v0", "198.51.100.2").status_code == 302
    assert sign_up("v1", "198.51.100.3").status_code == 429
    assert sorted(get_user_model().objects.values_list("username", flat=True)) == ["u0", "u1", "v0"]


class _CountingStream:
    """A request body that records how much of it was read."""

    def __init__(self, data: bytes) -> None:
        self._data, self.read_bytes = io.BytesIO(data), 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._data.read(size)
        self.read_bytes += len(chunk)
        return chunk

    def readline(self, size: int = -1) -> bytes:
        line = self._data.readline(size)
        self.read_bytes += len(line)
        return line


def test_an_oversized_body_is_refused_before_it_is_read(settings):
    client = _person("dave")
    stream = _CountingStream(b"--x\r\n" + b"a" * 1000)
    response = client.generic(
        "POST",
        URL,
        b"",
        content_type="multipart/form-data; boundary=x",
        **{"wsgi.input": stream, "CONTENT_LENGTH": str(10 * settings.UPLOAD_MAX_BYTES)},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    assert stream.read_bytes == 0
    assert Upload.objects.count() == 0


def test_a_chunked_body_without_length_is_refused():
    client = _person("erin")
    response = client.generic(
        "POST",
        URL,
        b"",
        content_type="multipart/form-data; boundary=x",
        **{"CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked"},
    )
    assert response.status_code == 411
    assert response.json()["error"]["code"] == "length_required"


def _asgi_post(chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> tuple[int, list[dict]]:
    """POST a body in chunks to config.asgi; return how many chunks it took, and what it sent."""
    from config.asgi import application

    taken, sent = 0, []

    async def receive():
        nonlocal taken
        taken += 1
        if taken > len(chunks):
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunks[taken - 1], "more_body": taken < len(chunks)}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": URL,
        "raw_path": URL.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"content-type", b"multipart/form-data; boundary=x"), *headers],
        "client": ("198.51.100.7", 5000),
        "server": ("testserver", 80),
    }
    asyncio.run(application(scope, receive, send))
    return taken, sent


def test_asgi_cuts_a_streamed_body_off_at_the_cap(settings):
    settings.UPLOAD_MAX_BYTES = 100_000
    chunks = [b"x" * 50_000] * 200  # 10 MB, no Content-Length
    taken, sent = _asgi_post(chunks, [(b"transfer-encoding", b"chunked")])
    assert sent[0]["status"] == 413 and b"file_too_large" in sent[1]["body"]
    assert taken <= 4  # (100,000 + 64 KiB) / 50,000 bytes, not all 200
    taken, sent = _asgi_post(chunks, [(b"content-length", str(50_000 * 200).encode())])
    assert sent[0]["status"] == 413 and taken == 0


@pytest.fixture
def decoded_pixels(monkeypatch):
    """Every pixel Pillow decodes (ImageFile.load), counted as (width, height)."""
    sizes: list[tuple[int, int]] = []
    original = ImageFile.ImageFile.load

    def load(self):
        result = original(self)
        sizes.append(self.size)
        return result

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return sizes


def test_a_png_bomb_costs_the_web_request_a_bounded_decode(settings, decoded_pixels):
    bomb = png_bomb(6320)
    assert len(bomb) < 200_000
    response = _upload(_person("frank"), bomb)
    assert response.status_code == 202, response.content
    assert response.json()["width"] == 6320
    assert max((w * h for w, h in decoded_pixels), default=0) <= settings.UPLOAD_WEB_DECODE_PIXELS


def test_a_damaged_bomb_ends_failed_with_a_clear_status(settings, active_model):
    from moderation.tasks import classify_upload

    client = _person("grace")
    response = _upload(client, png_bomb(6320, damaged=True))
    assert response.status_code == 202, response.content  # the web did not inflate it
    upload_id = response.json()["id"]
    classify_upload.apply(args=[upload_id])  # the worker's full decode finds the damage
    upload = Upload.objects.get(pk=upload_id)
    assert upload.status == UploadStatus.FAILED and upload.failure_reason
    shown = client.get(f"{URL}{upload_id}/").json()
    assert shown["status"] == "failed"
    assert shown["failure_reason"] and "Error" not in shown["failure_reason"]


def test_wait_does_not_hold_a_thread_when_every_waiting_place_is_taken(settings):
    settings.API_MAX_CONCURRENT_WAITS = 1
    client = _person("heidi")
    with wait_slot() as held:
        assert held
        started = time.monotonic()
        response = _upload(client, query="?wait=10")
        elapsed = time.monotonic() - started
    assert response.status_code == 202 and response.json()["status"] == "pending"
    assert elapsed < 5  # it would have waited the full 10 seconds for a verdict nobody gives

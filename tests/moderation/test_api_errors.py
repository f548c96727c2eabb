"""Every error code in docs/api.md's table is what the API answers.

The table is read from the document; each code in it is triggered through a
real request and must come back with the documented status and the one error
shape. A code the API's modules raise that the table does not list fails too,
and so does a documented code without a trigger here: doc drift either way."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image
from rest_framework.test import APIClient

from moderation.models import Partner, Upload, UploadStatus
from moderation.services.uploads import upload_create
from tests.helpers import encode, fashion_png, photo_like
from tests.security import bombs

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "api.md"
UPLOADS = "/api/v1/uploads/"
WEBHOOKS = "/api/v1/webhooks/"

# The modules whose errors a partner can meet: the API itself, the request
# body cap, image validation, and the services the API's views call.
API_MODULES = [
    "moderation/api/authentication.py",
    "moderation/api/errors.py",
    "moderation/api/serializers.py",
    "moderation/api/throttling.py",
    "moderation/api/views.py",
    "moderation/filters.py",
    "moderation/limits.py",
    "moderation/validation.py",
    "moderation/format_limits.py",
    "moderation/services/submissions.py",
    "moderation/services/backpressure.py",
    "moderation/services/uploads.py",
    "moderation/services/appeals.py",
    "moderation/services/webhooks.py",
    "moderation/services/ratelimit.py",
    "moderation/services/taxonomy.py",
    "moderation/services/partners.py",
]
CODE_PATTERNS = [
    re.compile(r'\bcode="([a-z_]+)"'),  # ApplicationError(..., code="...")
    re.compile(r'\berror_body\(\s*"([a-z_]+)"'),  # a response built by hand
    re.compile(r'\b[45]\d\d,\s*"([a-z_]+)"'),  # limits._refusal(path, 411, "length_required", ...)
]


def documented_errors() -> dict[str, int]:
    """code -> HTTP status, from the table under "## Errors" in docs/api.md."""
    section = DOC.read_text().split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    found: dict[str, int] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].isdigit():
            for code in re.findall(r"`([a-z_]+)`", cells[1]):
                assert code not in found, f"{code} is listed twice in docs/api.md"
                found[code] = int(cells[0])
    return found


def raised_codes() -> set[str]:
    from moderation.api.errors import _DRF_CODES

    codes = {code for _, code in _DRF_CODES}
    for module in API_MODULES:
        source = (ROOT / module).read_text()
        for pattern in CODE_PATTERNS:
            codes.update(pattern.findall(source))
    return codes


DOCUMENTED = documented_errors()


@dataclass
class World:
    api: APIClient
    partner: Partner
    key: str
    settings: object
    monkeypatch: pytest.MonkeyPatch

    def auth(self, key: str | None = None) -> dict:
        return {"HTTP_AUTHORIZATION": f"Api-Key {key or self.key}"}

    def post_image(self, data: bytes | None, query: str = "", headers: dict | None = None, **fields):
        payload = dict(fields)
        if data is not None:
            payload["image"] = SimpleUploadedFile("a.png", data)
        return self.api.post(UPLOADS + query, payload, format="multipart", **self.auth(), **(headers or {}))

    def upload(self, status: str = UploadStatus.PENDING) -> Upload:
        upload = upload_create(data=fashion_png(0)[0], partner=self.partner)
        Upload.objects.filter(pk=upload.pk).update(status=status)
        return upload

    def appeal(self, upload: Upload, body, content_type: str = "application/json"):
        return self.api.generic("POST", f"{UPLOADS}{upload.pk}/appeal/", body, content_type=content_type, **self.auth())

    def person(self, *, csrf: bool = False) -> Client:
        from django.contrib.auth import get_user_model

        user, _ = get_user_model().objects.get_or_create(username="poster")
        client = APIClient(enforce_csrf_checks=csrf)
        client.force_login(user)
        return client


def _png(seed: int = 0) -> bytes:
    """A valid PNG of noise (it does not compress: about 37 KB)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    return encode(Image.fromarray(pixels, "RGB"), "PNG")


def _gif(frames: int) -> bytes:
    images = [photo_like(32, 32, seed=i) for i in range(frames)]
    return encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)


def _limited(world: World, **limits):
    Partner.objects.filter(pk=world.partner.pk).update(**limits)


def _second_appeal(world: World):
    upload = world.upload(UploadStatus.REJECTED)
    assert world.appeal(upload, '{"message": "ours"}').status_code == 201
    Upload.objects.filter(pk=upload.pk).update(status=UploadStatus.REJECTED)  # decided, upheld
    return world.appeal(upload, '{"message": "again"}')


def _webhook_limit(world: World):
    world.settings.WEBHOOK_MAX_ENDPOINTS_PER_PARTNER = 1
    first = world.api.post(WEBHOOKS, {"url": "http://127.0.0.1:9/one"}, format="json", **world.auth())
    assert first.status_code == 201, first.content
    return world.api.post(WEBHOOKS, {"url": "http://127.0.0.1:9/two"}, format="json", **world.auth())


def _duplicate_external_id(world: World):
    assert world.post_image(_png(), external_id="post-1").status_code == 202
    return world.post_image(_png(seed=1), external_id="post-1")


def _idempotency_key_reused(world: World):
    assert world.post_image(_png(), headers={"HTTP_IDEMPOTENCY_KEY": "k1"}).status_code == 202
    return world.post_image(_png(seed=2), headers={"HTTP_IDEMPOTENCY_KEY": "k1"})


def _rate_limited(world: World):
    _limited(world, burst_limit=1)
    assert world.api.get(UPLOADS, **world.auth()).status_code == 200
    return world.api.get(UPLOADS, **world.auth())


def _signup_rate_limited(world: World):
    world.settings.SIGNUP_PER_ADDRESS_HOURLY = 0
    return Client().post(
        "/accounts/signup/", {"username": "newbie", "password1": "a-long-pass-123", "password2": "a-long-pass-123"}
    )


def _password_reset_rate_limited(world: World):
    world.settings.PASSWORD_RESET_PER_ADDRESS_HOURLY = 0
    return Client().post("/accounts/password_reset/", {"email": "someone@example.com"})


def _jpeg_coded(marker: int) -> bytes:
    """A JPEG whose frame header names another coding (SOF3: lossless, …)."""
    data = bytearray(encode(photo_like(), "JPEG"))
    data[data.index(b"\xff\xc0") + 1] = marker
    return bytes(data)


def _queue_full(world: World):
    world.settings.UPLOAD_BACKLOG_LIMIT = 1
    world.upload()  # one upload already waits for the models
    return world.post_image(_png())


def _server_error(world: World):
    def bug(**kwargs):
        raise RuntimeError("a bug")

    world.monkeypatch.setattr("moderation.api.views.upload_submit", bug)
    client = Client(raise_request_exception=False)
    return client.post(UPLOADS, {"image": SimpleUploadedFile("a.png", _png())}, **world.auth())


TRIGGERS: dict[str, Callable[[World], object]] = {
    "missing_image": lambda w: w.post_image(None, caption="no image"),
    "empty_file": lambda w: w.post_image(b""),
    "corrupt_image": lambda w: w.post_image(_png()[:20_000]),
    "image_too_small": lambda w: w.post_image(encode(Image.new("RGB", (8, 8), "white"))),
    "invalid_input": lambda w: w.appeal(w.upload(UploadStatus.REJECTED), '{"message": ["not", "text"]}'),
    "caption_too_long": lambda w: w.post_image(_png(), caption="x" * 2001),
    "external_id_too_long": lambda w: w.post_image(_png(), external_id="x" * 201),
    "invalid_wait": lambda w: w.post_image(_png(), query="?wait=11"),
    "invalid_filter": lambda w: w.api.get(UPLOADS, {"status": "nope"}, **w.auth()),
    "invalid_idempotency_key": lambda w: w.post_image(_png(), headers={"HTTP_IDEMPOTENCY_KEY": "k" * 201}),
    "unknown_declared_category": lambda w: w.post_image(_png(), declared_category="spaceship"),
    "appeal_message_missing": lambda w: w.appeal(w.upload(UploadStatus.REJECTED), '{"message": "  "}'),
    "appeal_message_too_long": lambda w: w.appeal(w.upload(UploadStatus.REJECTED), '{"message": "%s"}' % ("x" * 2001)),
    "invalid_webhook_url": lambda w: w.api.post(WEBHOOKS, {"url": "ftp://x.example/"}, format="json", **w.auth()),
    "unsafe_webhook_url": lambda w: w.api.post(
        WEBHOOKS, {"url": "http://169.254.169.254/latest/meta-data"}, format="json", **w.auth()
    ),
    "malformed_request": lambda w: w.appeal(w.upload(UploadStatus.REJECTED), '{"message": '),
    "not_authenticated": lambda w: w.api.get(UPLOADS),
    "authentication_failed": lambda w: w.api.get(UPLOADS, **w.auth("mk_unknown")),
    "permission_denied": lambda w: w.person(csrf=True).post(UPLOADS, {"image": SimpleUploadedFile("a.png", _png())}),
    "not_found": lambda w: w.api.get("/api/v1/no-such-thing/", **w.auth()),
    "upload_not_found": lambda w: w.api.get(f"{UPLOADS}{uuid.uuid4()}/", **w.auth()),
    "webhook_not_found": lambda w: w.api.delete(f"{WEBHOOKS}999999/", **w.auth()),
    "partner_only": lambda w: w.person().get(WEBHOOKS),
    "method_not_allowed": lambda w: w.api.put(UPLOADS, {}, format="json", **w.auth()),
    "not_acceptable": lambda w: w.api.get(UPLOADS, HTTP_ACCEPT="application/xml", **w.auth()),
    "duplicate_external_id": _duplicate_external_id,
    "idempotency_key_reused": _idempotency_key_reused,
    "not_rejected": lambda w: w.appeal(w.upload(UploadStatus.IN_REVIEW), '{"message": "why"}'),
    "already_appealed": _second_appeal,
    "webhook_limit_reached": _webhook_limit,
    "length_required": lambda w: w.api.generic(
        "POST", UPLOADS, b"", HTTP_TRANSFER_ENCODING="chunked", CONTENT_LENGTH="", **w.auth()
    ),
    "file_too_large": lambda w: (setattr(w.settings, "UPLOAD_MAX_BYTES", 10_000), w.post_image(_png()))[1],
    "too_many_pixels": lambda w: (setattr(w.settings, "UPLOAD_MAX_PIXELS", 1000), w.post_image(_png()))[1],
    "animation_too_large": lambda w: (setattr(w.settings, "UPLOAD_MAX_FRAMES", 2), w.post_image(_gif(3)))[1],
    "too_many_scans": lambda w: w.post_image(bombs.jpeg_scan_bomb(120, side=64)),
    "too_many_segments": lambda w: w.post_image(bombs.jpeg_marker_flood(2_001)),
    "too_many_chunks": lambda w: w.post_image(bombs.png_chunk_flood(20_001)),
    "metadata_too_large": lambda w: w.post_image(bombs.jpeg_icc_bomb(side=64, megabytes=2)),
    "unsupported_jpeg_coding": lambda w: w.post_image(_jpeg_coded(0xC3)),
    "unsupported_format": lambda w: w.post_image(b"hello, this is not an image\n" * 10),
    "unsupported_media_type": lambda w: w.appeal(w.upload(UploadStatus.REJECTED), "why", content_type="text/plain"),
    "rate_limited": _rate_limited,
    "quota_exceeded": lambda w: (_limited(w, daily_quota=0), w.post_image(_png()))[1],
    "signup_rate_limited": _signup_rate_limited,
    "password_reset_rate_limited": _password_reset_rate_limited,
    "server_error": _server_error,
    "queue_full": _queue_full,
}


@pytest.fixture
def world(db, api_client, partner_key, settings, monkeypatch) -> World:
    partner, key = partner_key()
    return World(api=api_client, partner=partner, key=key, settings=settings, monkeypatch=monkeypatch)


@pytest.mark.parametrize("accept", ["text/html", "text/html,application/xhtml+xml", "application/xml"])
def test_an_accept_other_than_json_is_406(world, accept):
    """A browser's Accept gets the documented 406, not DRF's browsable HTML page."""
    response = world.api.get(UPLOADS, HTTP_ACCEPT=accept, **world.auth())
    assert response.status_code == 406
    assert response.json()["error"]["code"] == "not_acceptable"


def test_the_table_is_read():
    assert len(DOCUMENTED) > 30 and DOCUMENTED["appeal_message_missing"] == 400


def test_every_documented_code_has_a_trigger_and_every_trigger_is_documented():
    assert sorted(set(DOCUMENTED) - set(TRIGGERS)) == [], "documented in docs/api.md but never triggered here"
    assert sorted(set(TRIGGERS) - set(DOCUMENTED)) == [], "triggered here but missing from docs/api.md"


def test_every_code_the_api_raises_is_documented():
    assert sorted(raised_codes() - set(DOCUMENTED)) == [], "raised by the API's modules, missing from docs/api.md"


@pytest.mark.parametrize("code", sorted(DOCUMENTED))
def test_documented_code_is_what_the_api_answers(code, world):
    uploads_before = Upload.objects.count()
    response = TRIGGERS[code](world)
    status = DOCUMENTED[code]
    assert response.status_code == status, (code, response.status_code, response.content[:300])
    if code in ("signup_rate_limited", "password_reset_rate_limited"):  # a page: HTML for a person, the code shown
        assert code in response.content.decode()
        return
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and "detail" in error, error
    if status == 429:
        assert int(response["Retry-After"]) >= 1
    if response.wsgi_request.method == "POST" and response.wsgi_request.path == UPLOADS:
        # A refused upload leaves no row (the triggers' own setup uploads aside).
        setup = code in ("duplicate_external_id", "idempotency_key_reused", "queue_full")
        assert Upload.objects.count() <= uploads_before + setup


# docs/api.md's error examples are what the API answers with its default
# settings: made here, through real requests, and compared with the page.
# UPDATE_API_DOCS=1 writes them into the page instead (then review the diff).
EXAMPLES_START = "<!-- error examples: generated by tests/moderation/test_api_errors.py; UPDATE_API_DOCS=1 rewrites -->"
EXAMPLES_END = "<!-- end of error examples -->"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SHOWN_UUID = "7c1e0c9a-3b5d-4f6e-8a9b-0c1d2e3f4a5b"


def _over_the_request_cap(world: World):
    from moderation.limits import request_max_bytes

    size = request_max_bytes() + 5 * 2**20  # judged from the header: no body is sent
    return world.api.generic("POST", UPLOADS, b"", CONTENT_LENGTH=str(size), **world.auth())


def _a_file_over_the_limit(world: World):
    from django.conf import settings

    return world.post_image(b"\x89PNG\r\n\x1a\n" + b"\0" * (settings.UPLOAD_MAX_BYTES + 1_000))


EXAMPLES: list[tuple[str, str, Callable[[World], object]]] = [
    ("a request body over the cap (judged from Content-Length)", "file_too_large", _over_the_request_cap),
    ("a file over UPLOAD_MAX_BYTES in a request under the cap", "file_too_large", _a_file_over_the_limit),
    ("a caption over 2,000 characters", "caption_too_long", TRIGGERS["caption_too_long"]),
    (
        'an appeal of `{"message": 123}`',
        "invalid_input",
        lambda w: w.appeal(w.upload(UploadStatus.REJECTED), '{"message": 123}'),
    ),
    ("an unknown API key", "authentication_failed", TRIGGERS["authentication_failed"]),
    ("the same `external_id` twice", "duplicate_external_id", _duplicate_external_id),
    ("an appeal with a blank message", "appeal_message_missing", TRIGGERS["appeal_message_missing"]),
    ("a chunked body", "length_required", TRIGGERS["length_required"]),
]


def _examples_markdown(world: World) -> str:
    import json

    parts = [EXAMPLES_START]
    for when, code, trigger in EXAMPLES:
        response = trigger(world)
        body = response.json()
        assert body["error"]["code"] == code, (code, body)
        shown = _UUID.sub(_SHOWN_UUID, json.dumps(body, ensure_ascii=False))
        parts += ["", f"`{response.status_code} {code}`: {when}", "", "```json", shown, "```"]
    return "\n".join([*parts, "", EXAMPLES_END])


def test_the_error_examples_are_what_the_api_answers(world):
    import os

    generated = _examples_markdown(world)
    text = DOC.read_text()
    assert EXAMPLES_START in text and EXAMPLES_END in text, "docs/api.md lost its error examples' markers"
    before, rest = text.split(EXAMPLES_START, 1)
    after = rest.split(EXAMPLES_END, 1)[1]
    if os.environ.get("UPDATE_API_DOCS") == "1":
        DOC.write_text(before + generated + after)
        return
    assert before + generated + after == text, (
        "docs/api.md's error examples differ from what the API answers: run "
        "UPDATE_API_DOCS=1 pytest tests/moderation/test_api_errors.py -k examples, and review the diff"
    )

"""Edges (issue 16, item 8): the client address behind trusted proxies, health
and metrics behind tokens, production by default, generic failure reasons for
partners and uploaders, and a restricted unpickler for legacy weight files."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory

from classifier.ml.torch_weights import load_state_dict
from moderation import observability
from moderation.client_address import client_address
from moderation.services.uploads import upload_create, upload_fail
from tests.conftest import ROOT
from tests.helpers import fashion_png

PROXY = "10.0.0.5"


# --- The client address and sign-in lockout


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        (PROXY, "203.0.113.7", ["10.0.0.0/8"], "203.0.113.7"),
        # The client wrote the left part; the right-most untrusted hop is the client.
        (PROXY, "6.6.6.6, 203.0.113.7", ["10.0.0.0/8"], "203.0.113.7"),
        (PROXY, "6.6.6.6, 203.0.113.7, 10.0.0.9", ["10.0.0.0/8"], "203.0.113.7"),
        # A peer that is not our proxy: its header is ignored.
        ("198.51.100.9", "203.0.113.7", ["10.0.0.0/8"], "198.51.100.9"),
        # No trusted proxies configured: never read.
        (PROXY, "203.0.113.7", [], PROXY),
        # Garbage appended by no proxy of ours: stop at the last trusted hop.
        (PROXY, "203.0.113.7, not-an-address", ["10.0.0.0/8"], PROXY),
    ],
)
def test_client_address_reads_forwarded_for_only_from_trusted_proxies(settings, peer, forwarded, trusted, expected):
    settings.TRUSTED_PROXIES = trusted
    request = RequestFactory().get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


def _sign_in(peer: str, forwarded: str | None, password: str):
    headers = {"REMOTE_ADDR": peer, **({"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {})}
    client = Client(**headers)
    response = client.post("/accounts/login/", {"username": "victim", "password": password})
    return response, client


@pytest.mark.django_db
def test_failures_through_the_proxy_lock_out_the_attacker_not_the_user(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    get_user_model().objects.create_user("victim", password="the-right-password-1")
    for _ in range(settings.AXES_FAILURE_LIMIT + 2):
        _sign_in(PROXY, "203.0.113.66", "wrong")
    locked, client = _sign_in(PROXY, "203.0.113.66", "the-right-password-1")
    assert locked.status_code == 429 and "_auth_user_id" not in client.session
    # The real user comes through the same proxy from another address.
    response, client = _sign_in(PROXY, "198.51.100.20", "the-right-password-1")
    assert response.status_code == 302 and "_auth_user_id" in client.session


@pytest.mark.django_db
def test_a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_escape_the_lockout(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    get_user_model().objects.create_user("victim", password="the-right-password-1")
    for i in range(settings.AXES_FAILURE_LIMIT + 2):
        _sign_in("198.51.100.99", f"203.0.113.{i}", "wrong")
    response, client = _sign_in("198.51.100.99", "203.0.113.200", "the-right-password-1")
    assert response.status_code == 429 and "_auth_user_id" not in client.session


# --- Health and metrics


@pytest.mark.django_db
def test_public_health_says_only_ok_or_fail(client, settings):
    settings.HEALTH_TOKEN = "h-token"
    assert client.get("/health/").json() == {"status": "ok"}
    settings.CELERY_BROKER_URL = "redis://moderation:pw@127.0.0.1:1/0"  # nothing listens there
    public = client.get("/health/")
    assert public.status_code == 503 and public.json() == {"status": "fail"}  # no address, no error text
    detailed = client.get("/health/", HTTP_AUTHORIZATION="Bearer h-token")
    assert detailed.status_code == 503 and detailed.json()["checks"]["broker"].startswith("failed")
    assert client.get("/health/", HTTP_AUTHORIZATION="Bearer wrong").json() == {"status": "fail"}


@pytest.mark.django_db
def test_health_does_not_write_to_storage_on_every_hit(client, monkeypatch):
    from django.core.files.storage import default_storage

    observability._storage_probe.clear()
    saved = []
    original = default_storage.save
    monkeypatch.setattr(default_storage, "save", lambda *a, **k: saved.append(a[0]) or original(*a, **k))
    for _ in range(5):
        assert client.get("/health/").status_code == 200
    assert len(saved) <= 1


@pytest.mark.django_db
def test_metrics_need_the_token_and_nobody_gets_them_without_one(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    settings.METRICS_TOKEN = "m-token"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer other").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer m-token").status_code == 200


# --- Settings: production by default, and it needs its tokens


def _python(code: str, *, drop: tuple[str, ...] = (), extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", *drop)}
    env.update(extra or {})
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": "x" * 60,
    "DJANGO_ALLOWED_HOSTS": "moderation.example.com",
    "METRICS_TOKEN": "m",
    "HEALTH_TOKEN": "h",
}


@pytest.mark.parametrize("missing", ["METRICS_TOKEN", "HEALTH_TOKEN"])
def test_production_refuses_to_start_without_its_tokens(missing):
    extra = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = _python("import config.settings.production", drop=(missing,), extra=extra)
    assert result.returncode != 0 and f"{missing} must be set" in result.stderr
    empty = _python("import config.settings.production", extra={**extra, missing: " "})
    assert empty.returncode != 0 and f"{missing} must be set" in empty.stderr
    assert _python("import config.settings.production", extra=PRODUCTION_ENV).returncode == 0


def test_every_entry_point_defaults_to_production_settings():
    # Each entry point runs in a process without DJANGO_SETTINGS_MODULE, with
    # what it would start stubbed out, and reports what it chose.
    code = (
        "import os, runpy, sys\n"
        "import config.celery\n"
        "print('celery', os.environ.pop('DJANGO_SETTINGS_MODULE'))\n"
        "import django.core.wsgi as w; w.get_wsgi_application = lambda: None\n"
        "import config.wsgi\n"
        "print('wsgi', os.environ.pop('DJANGO_SETTINGS_MODULE'))\n"
        "import django.core.management as m; m.execute_from_command_line = lambda argv: None\n"
        "runpy.run_path('manage.py', run_name='__main__')\n"
        "print('manage', os.environ.pop('DJANGO_SETTINGS_MODULE'))\n"
        "import django; django.setup = lambda **kw: None\n"
        "import types; stub = types.ModuleType('moderation.limits'); stub.BodyCappedASGIHandler = lambda: None\n"
        "sys.modules['moderation.limits'] = stub\n"
        "import config.asgi\n"
        "print('asgi', os.environ.pop('DJANGO_SETTINGS_MODULE'))\n"
    )
    result = _python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "celery",
        "config.settings.production",
        "wsgi",
        "config.settings.production",
        "manage",
        "config.settings.production",
        "asgi",
        "config.settings.production",
    ]


def test_make_and_ci_still_choose_their_settings():
    makefile = (ROOT / "Makefile").read_text()
    assert "export DJANGO_SETTINGS_MODULE ?= config.settings.local" in makefile
    assert "DJANGO_SETTINGS_MODULE=config.settings.test" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()


# --- What partners and uploaders are told when processing failed


@pytest.mark.django_db
def test_failure_reason_is_generic_for_a_partner_and_the_uploader(api_client, partner_key, client, admin_client):
    raw = 'OperationalError: connection to server at "db.internal" (10.1.2.3), user "moderation" failed'
    partner, key = partner_key()
    upload = upload_create(data=fashion_png(0)[0], filename="a.png", partner=partner)
    upload_fail(upload_id=upload.pk, reason=raw)
    shown = api_client.get(f"/api/v1/uploads/{upload.pk}/", HTTP_AUTHORIZATION=f"Api-Key {key}").json()
    assert shown["status"] == "failed"
    assert shown["failure_reason"] and "db.internal" not in shown["failure_reason"]
    listed = api_client.get("/api/v1/uploads/", HTTP_AUTHORIZATION=f"Api-Key {key}").json()["results"][0]
    assert listed["failure_reason"] == shown["failure_reason"]

    person = get_user_model().objects.create_user("ivan", password="a-long-password-1")
    mine = upload_create(data=fashion_png(1)[0], filename="b.png", uploader=person)
    upload_fail(upload_id=mine.pk, reason=raw)
    client.force_login(person)
    assert "db.internal" not in client.get(f"/api/v1/uploads/{mine.pk}/").content.decode()
    # Staff still read the cause in the admin.
    assert "db.internal" in admin_client.get(f"/admin/moderation/upload/{mine.pk}/change/").content.decode()


# --- Legacy torch weight files


class _Shell:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_the_weights_reader_refuses_a_pickle_that_would_run_a_command(tmp_path):
    marker = tmp_path / "pwned"
    evil = pickle.dumps(_Shell(marker), protocol=2)
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    files = {
        "first pickle": evil,
        "system info": magic + pickle.dumps(1001, protocol=2) + evil,
        "state dict": magic + pickle.dumps(1001, protocol=2) + pickle.dumps({"little_endian": True}, protocol=2) + evil,
    }
    for name, content in files.items():
        path = tmp_path / f"{name}.pth"
        path.write_bytes(content)
        with pytest.raises(pickle.UnpicklingError):
            load_state_dict(path)
        assert not marker.exists(), name

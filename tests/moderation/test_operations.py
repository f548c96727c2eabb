"""Running in production: health, Prometheus metrics, sign-in throttling, deploy checks."""

import os
import secrets
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model

from moderation.services.uploads import upload_create
from tests.conftest import ROOT
from tests.helpers import fashion_png

pytestmark = pytest.mark.django_db


def test_health_checks_database_broker_and_storage(client, settings):
    settings.HEALTH_TOKEN = "h-token"
    response = client.get("/health/", HTTP_AUTHORIZATION="Bearer h-token")
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"database": "ok", "broker": "ok", "storage": "ok"}


def test_health_reports_a_dead_broker(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    settings.HEALTH_TOKEN = "h-token"
    response = client.get("/health/", HTTP_AUTHORIZATION="Bearer h-token")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("failed")
    assert response.json()["checks"]["database"] == "ok"


def test_prometheus_metrics_include_the_platforms_own(client, settings):
    upload_create(data=fashion_png(0)[0], filename="a.png")
    settings.METRICS_TOKEN = "s3cret"
    body = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").content.decode()
    assert 'moderation_uploads{state="pending"} 1.0' in body
    assert "moderation_review_queue_depth 0.0" in body
    assert "django_http_requests_total_by_method_total" in body
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200


def test_sign_in_is_throttled_after_repeated_failures(client, settings):
    get_user_model().objects.create_user("victim", password="the-right-password-1")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "victim", "password": "wrong"})
    response = client.post("/accounts/login/", {"username": "victim", "password": "the-right-password-1"})
    assert response.status_code in (403, 429)
    assert "_auth_user_id" not in client.session


def test_every_form_has_csrf(client):
    client_with_checks = client.__class__(enforce_csrf_checks=True)
    get_user_model().objects.create_user("alice", password="alice-pass-1")
    assert (
        client_with_checks.post("/accounts/login/", {"username": "alice", "password": "alice-pass-1"}).status_code
        == 403
    )


def test_check_deploy_with_production_settings_reports_nothing():
    # The environment of a deployment, not of this test run (which sets test-only variables).
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_ALLOW_ASYNC_UNSAFE", "USE_TEST_DATABASE")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
            "DJANGO_ALLOWED_HOSTS": "moderation.example.com",
            "METRICS_TOKEN": secrets.token_urlsafe(20),
            "HEALTH_TOKEN": secrets.token_urlsafe(20),
        }
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_settings_refuse_to_start_without_secrets():
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS")}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.production"
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and "DJANGO_SECRET_KEY must be set" in result.stderr

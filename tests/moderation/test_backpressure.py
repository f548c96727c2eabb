"""Back-pressure on the upload API: the queue in front of the models is told
to clients (202 body and Retry-After, metrics), wait mode does not hold a
thread for a verdict that cannot come in time, and past UPLOAD_BACKLOG_LIMIT
uploads are refused with 503 `queue_full`, nothing stored."""

import math
import time
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from moderation.models import AuditEvent, IdempotencyRecord, Upload, UploadStatus
from moderation.selectors import classification_backlog
from tests.conftest import media_files
from tests.factories import UploadFactory
from tests.helpers import fashion_png

pytestmark = pytest.mark.django_db

URL = "/api/v1/uploads/"


def post(client, key, index=0, query="", **headers):
    data = {"image": SimpleUploadedFile(f"{index}.png", fashion_png(index)[0])}
    return client.post(URL + query, data, format="multipart", HTTP_AUTHORIZATION=f"Api-Key {key}", **headers)


def settled_lately(n: int) -> None:
    """n uploads that got their verdict within the last 30 seconds: the pace."""
    for _ in range(n):
        UploadFactory(status=UploadStatus.APPROVED, verdict_at=timezone.now() - timedelta(seconds=5))


def test_the_202_tells_the_queue_it_joined(api_client, partner_key):
    _, key = partner_key()
    settled_lately(15)  # 15 in 30 s: 0.5 verdicts/s
    UploadFactory.create_batch(4)  # pending

    response = post(api_client, key)

    assert response.status_code == 202, response.content
    queue = response.json()["queue"]
    # Counted afresh here (UPLOAD_BACKLOG_CHECK_SECONDS = 0): this upload included.
    assert queue == {"depth": 5, "verdicts_per_second": 0.5, "expected_delay_seconds": 10.0}
    assert response["Retry-After"] == "10"
    assert post(api_client, key, 1).json()["queue"]["depth"] == 6


def test_nothing_settled_lately_means_an_unknown_delay(api_client, partner_key):
    _, key = partner_key()
    UploadFactory.create_batch(2)
    UploadFactory(status=UploadStatus.APPROVED, verdict_at=timezone.now() - timedelta(minutes=10))

    response = post(api_client, key)

    assert response.json()["queue"] == {"depth": 3, "verdicts_per_second": 0.0, "expected_delay_seconds": None}
    assert int(response["Retry-After"]) > 0
    backlog = classification_backlog()
    assert (backlog.depth, backlog.expected_delay_seconds) == (3, None)


def test_past_the_bound_uploads_are_refused_and_nothing_is_stored(api_client, partner_key, settings):
    settings.UPLOAD_BACKLOG_LIMIT = 3
    partner, key = partner_key()
    settled_lately(30)  # 1 verdict/s
    accepted = [post(api_client, key, i, HTTP_IDEMPOTENCY_KEY=f"k{i}") for i in range(3)]
    assert [r.status_code for r in accepted] == [202, 202, 202]
    rows, files, events = Upload.objects.count(), media_files(), AuditEvent.objects.count()

    refused = post(api_client, key, 3, HTTP_IDEMPOTENCY_KEY="k3")

    assert refused.status_code == 503
    error = refused.json()["error"]
    assert error["code"] == "queue_full"
    assert error["detail"]["depth"] == 3
    # Room for a tenth of the bound again at 1 verdict/s: (3 - 2.7) / 1 s, at least 1 s.
    assert refused["Retry-After"] == str(max(1, math.ceil(3 - 0.9 * 3)))
    assert Upload.objects.count() == rows and media_files() == files and AuditEvent.objects.count() == events
    assert not IdempotencyRecord.objects.filter(partner=partner, key="k3").exists()
    # What was accepted stays accepted: a retry of it answers with the same upload.
    replay = post(api_client, key, 0, HTTP_IDEMPOTENCY_KEY="k0")
    assert replay.status_code == 202 and replay.json()["id"] == accepted[0].json()["id"]
    # Once the backlog drains below the bound, uploads are taken again.
    Upload.objects.filter(status=UploadStatus.PENDING).update(status=UploadStatus.APPROVED, verdict_at=timezone.now())
    assert post(api_client, key, 3, HTTP_IDEMPOTENCY_KEY="k3").status_code == 202


def test_no_bound_when_the_limit_is_zero(api_client, partner_key, settings):
    settings.UPLOAD_BACKLOG_LIMIT = 0
    _, key = partner_key()
    UploadFactory.create_batch(5)
    assert post(api_client, key).status_code == 202


def test_wait_mode_answers_at_once_when_the_verdict_cannot_come_in_time(api_client, partner_key):
    _, key = partner_key()
    settled_lately(3)  # 0.1 verdicts/s
    UploadFactory.create_batch(9)  # 100 s of queue with this one, far beyond the 10 s asked

    started = time.monotonic()
    response = post(api_client, key, query="?wait=10")

    assert response.status_code == 202
    assert response.json()["queue"]["expected_delay_seconds"] == 100.0
    assert response["Retry-After"] == "100"
    assert time.monotonic() - started < 9  # it did not sit out the wait


def test_metrics_expose_the_backlog(client, settings):
    settings.METRICS_TOKEN = "s3cret"
    settled_lately(6)
    UploadFactory.create_batch(2)

    body = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").content.decode()

    assert "moderation_classification_backlog 2.0" in body
    assert "moderation_classification_verdicts_per_second 0.2" in body
    assert "moderation_classification_expected_delay_seconds 10.0" in body

"""The API against a live server with a real worker: wait mode, and
schemathesis fuzzing every operation (no 5xx, responses match the schema)."""

import json
import os
import subprocess
import sys
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from moderation.models import Partner
from tests.conftest import ARTIFACTS
from tests.helpers import fashion_png

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_wait_mode_answers_201_with_the_verdict(celery_worker, active_model, partner_key, api_client):
    _, key = partner_key()
    started = time.monotonic()
    response = api_client.post(
        "/api/v1/uploads/?wait=10",
        {"image": SimpleUploadedFile("a.png", fashion_png(0)[0])},
        format="multipart",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] in ("approved", "rejected", "in_review") and body["tags"]
    assert time.monotonic() - started < 10


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    celery_worker, active_model, partner_key, live_server
):
    partner, key = partner_key()
    Partner.objects.filter(pk=partner.pk).update(
        burst_limit=100_000,
        sustained_limit=1_000_000,
        upload_burst_limit=100_000,
        upload_hourly_limit=1_000_000,
        daily_quota=1_000_000,
    )
    ARTIFACTS.mkdir(exist_ok=True)
    report = ARTIFACTS / "schemathesis.ndjson"
    junit = ARTIFACTS / "schemathesis-junit.xml"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{live_server.url}/api/schema/",
        "--url",
        live_server.url,
        "-H",
        f"Authorization: Api-Key {key}",
        "--checks",
        "not_a_server_error,response_schema_conformance,content_type_conformance",
        "--max-examples",
        os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"),
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "1",
        "--seed",
        "1",
        "--report",
        "junit,ndjson",
        "--report-junit-path",
        str(junit),
        "--report-ndjson-path",
        str(report),
        "--request-timeout",
        "30",
    ]
    # schemathesis keeps its example database in ./.schemathesis: run it in the
    # test session's folder so that nothing lands in the working tree.
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=os.environ["TEST_SESSION_DIR"])
    (ARTIFACTS / "schemathesis.txt").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    summary = [line for line in result.stdout.splitlines() if "passed" in line or "failed" in line]
    print("\n".join(summary[-5:]))
    assert junit.exists() and "<testsuite" in junit.read_text()
    assert json.loads(report.read_text().splitlines()[0])  # the run report was written

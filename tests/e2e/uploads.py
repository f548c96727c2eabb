"""One partner upload through the API to a real worker's verdict, for the end-to-end tests."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from moderation.models import Upload, UploadStatus
from tests.conftest import wait_for

SETTLED = {UploadStatus.APPROVED, UploadStatus.REJECTED, UploadStatus.IN_REVIEW}


def judged(api_client, key: str, data: bytes, name: str, *, timeout: float = 90, **fields) -> tuple[Upload, dict]:
    """POST an image (with any other form fields), wait until the worker has
    judged it, and return the row and the upload as the partner GETs it."""
    response = api_client.post(
        "/api/v1/uploads/",
        {"image": SimpleUploadedFile(name, data), **fields},
        format="multipart",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )
    assert response.status_code == 202, response.content
    upload_id = response.json()["id"]
    done = wait_for(lambda: Upload.objects.filter(pk=upload_id, status__in=SETTLED).exists(), timeout=timeout)
    upload = Upload.objects.get(pk=upload_id)
    assert done, (upload.status, upload.failure_reason)
    body = api_client.get(f"/api/v1/uploads/{upload_id}/", HTTP_AUTHORIZATION=f"Api-Key {key}").json()
    return upload, body

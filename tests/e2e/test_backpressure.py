"""Back-pressure end to end: uploads arrive while no worker runs, the API
takes them up to UPLOAD_BACKLOG_LIMIT and refuses the rest; a real worker
then gives every accepted upload its verdict, and the refused left nothing."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from moderation.models import SETTLED_STATUSES, AuditAction, AuditEvent, Upload
from tests.conftest import media_files, start_process, stop_process, wait_for
from tests.helpers import fashion_png

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_accepted_uploads_all_get_verdicts_and_refused_ones_stored_nothing(
    active_model, partner_key, api_client, settings
):
    settings.UPLOAD_BACKLOG_LIMIT = 4
    _, key = partner_key()
    before = set(media_files())
    answers = []
    for index in range(7):
        response = api_client.post(
            "/api/v1/uploads/",
            {"image": SimpleUploadedFile(f"{index}.png", fashion_png(index)[0]), "external_id": f"bp-{index}"},
            format="multipart",
            HTTP_AUTHORIZATION=f"Api-Key {key}",
        )
        answers.append(response)
    assert [r.status_code for r in answers] == [202] * 4 + [503] * 3
    assert {r.json()["error"]["code"] for r in answers[4:]} == {"queue_full"}
    assert all(int(r["Retry-After"]) >= 1 for r in answers)
    accepted = [r.json()["id"] for r in answers[:4]]
    assert len(set(media_files()) - before) == 4  # the accepted uploads' originals, nothing of the refused
    assert set(Upload.objects.values_list("external_id", flat=True)) == {f"bp-{i}" for i in range(4)}

    worker = start_process("worker")
    try:
        done = wait_for(
            lambda: Upload.objects.filter(pk__in=accepted, status__in=SETTLED_STATUSES).count() == 4, timeout=120
        )
    finally:
        stop_process(worker)
    assert done, list(Upload.objects.values_list("status", "failure_reason"))
    assert Upload.objects.count() == 4
    assert AuditEvent.objects.filter(action=AuditAction.UPLOAD_CREATED).count() == 4

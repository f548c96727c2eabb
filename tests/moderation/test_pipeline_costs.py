"""What the worker spends per upload beside the models (bench.pipeline
measures the time; these pin the work): no public copy nobody is served,
and the policy's settings read once per POLICY_CACHE_SECONDS, not per upload."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from moderation.models import Upload
from moderation.selectors import policy_inputs
from moderation.services.uploads import upload_classify, upload_create
from tests.helpers import fashion_png

pytestmark = pytest.mark.django_db


def _classified(index: int, **kwargs) -> Upload:
    upload = upload_create(data=fashion_png(index)[0], filename=f"{index}.png", **kwargs)
    upload_classify(upload_id=upload.pk)
    upload.refresh_from_db()
    return upload


def test_only_uploads_someone_is_served_get_a_public_copy(active_model, partner_key, settings):
    settings.PUBLIC_COPY_PARTNER_UPLOADS = False
    partner, _ = partner_key()
    person = get_user_model().objects.create_user("poster", password="pw-123456789")

    from_partner = _classified(0, partner=partner)
    from_person = _classified(1, uploader=person)

    assert from_partner.verdict_at and not from_partner.public_image  # seen by moderators only, as the original
    assert from_person.verdict_at and from_person.public_image.name.startswith("public/")
    settings.PUBLIC_COPY_PARTNER_UPLOADS = True  # as before
    assert _classified(2, partner=partner).public_image


def test_the_policy_settings_are_read_once_per_interval(active_model, settings):
    def queries(index: int) -> int:
        upload = upload_create(data=fashion_png(index)[0], filename=f"{index}.png")
        with CaptureQueriesContext(connection) as ctx:
            upload_classify(upload_id=upload.pk)
        return len(ctx.captured_queries)

    settings.POLICY_CACHE_SECONDS = 0.0
    queries(0)  # the first loads the models and the hash index
    fresh = queries(1)
    settings.POLICY_CACHE_SECONDS = 3600.0
    policy_inputs()  # read once
    assert queries(2) == fresh - 4  # class thresholds, flag categories, the text terms and domain lists


def test_a_new_upload_is_answered_without_reading_it_back(api_client, partner_key, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    _, key = partner_key()

    def answer(index: int):
        with CaptureQueriesContext(connection) as ctx:
            response = api_client.post(
                "/api/v1/uploads/",
                {"image": SimpleUploadedFile(f"{index}.png", fashion_png(index)[0])},
                format="multipart",
                HTTP_AUTHORIZATION=f"Api-Key {key}",
            )
        assert response.status_code == 202, response.content
        return response.json(), len(ctx.captured_queries)

    settings.API_READ_BACK_ACCEPTED = True  # as before
    answer(0)  # the first request of a test reads a few things once
    read_back, before = answer(1)
    settings.API_READ_BACK_ACCEPTED = False
    shown, now = answer(2)
    assert now == before - 4  # the upload, its predictions, its flags and its text read
    assert shown.keys() == read_back.keys()
    stored = api_client.get(f"/api/v1/uploads/{shown['id']}/", HTTP_AUTHORIZATION=f"Api-Key {key}").json()
    assert {k: v for k, v in shown.items() if k != "queue"} == stored

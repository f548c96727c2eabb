"""The API's `declared_category` input and `categories` output."""

import pytest

from moderation.models import Upload
from tests.conftest import media_files
from tests.helpers import fashion_png
from tests.moderation.frozen_analysis import ESPRESSO, PLATE, TORN_PRODUCT, apply_frozen, make_versions
from tests.moderation.test_api import assert_error, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def versions(db):
    return make_versions()


@pytest.mark.parametrize("value", ["spaceship", "x" * 300, "foot wear"])
def test_unknown_declared_category_is_400_and_nothing_is_stored(api_client, partner_key, value):
    _, key = partner_key()
    files_before = media_files()
    response = post(api_client, key, fashion_png(0)[0], declared_category=value)
    assert_error(response, 400, "unknown_declared_category")
    detail = response.json()["error"]["detail"]
    assert "food and drink" in detail["categories"] and "Sneaker" in detail["product_classes"]
    assert not Upload.objects.exists() and media_files() == files_before


def test_declared_category_and_categories_in_the_upload_output(api_client, partner_key, versions):
    _, key = partner_key()
    response = post(api_client, key, fashion_png(0)[0], declared_category="Food and Drink")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["declared_category"] == "food and drink" and body["categories"] == []

    upload = Upload.objects.get(pk=body["id"])
    apply_frozen(upload, versions, product=TORN_PRODUCT, imagenet={ESPRESSO: 0.7, PLATE: 0.25})
    body = api_client.get(f"/api/v1/uploads/{upload.pk}/", HTTP_AUTHORIZATION=f"Api-Key {key}").json()
    assert body["status"] == "approved" and body["flags"] == []
    assert body["categories"][0] == {"name": "food and drink", "score": pytest.approx(0.95)}
    assert len(body["categories"]) == 3


def test_schema_documents_the_new_fields(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    upload = schema["components"]["schemas"]["UploadOutput"]["properties"]
    assert upload["categories"]["type"] == "array" and "declared_category" in upload
    request = schema["paths"]["/api/v1/uploads/"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    ref = request["$ref"].rsplit("/", 1)[-1]
    assert "declared_category" in schema["components"]["schemas"][ref]["properties"]

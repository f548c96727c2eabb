"""Open-set product tags where people and partners see them: the API, the
review pages, and the training examples a review produces."""

import pytest

from classifier.models import TrainingExample
from moderation.models import FlagCategory, Upload, UploadStatus
from moderation.services.review import review_decide
from moderation.services.uploads import upload_classify, upload_create
from tests.conftest import skimage_jpeg
from tests.helpers import fashion_png

pytestmark = pytest.mark.django_db


def _classified(data: bytes, filename: str, partner=None) -> Upload:
    upload = upload_create(data=data, filename=filename, partner=partner)
    upload_classify(upload_id=upload.pk)
    upload.refresh_from_db()
    return upload


def test_api_shows_no_tags_and_why_for_a_real_photo(open_set_models, partner_key, api_client):
    partner, key = partner_key()
    upload = _classified(skimage_jpeg("coffee"), "coffee.jpg", partner)
    body = api_client.get(f"/api/v1/uploads/{upload.pk}/", HTTP_AUTHORIZATION=f"Api-Key {key}").json()
    assert body["tags"] == []
    gate = body["tags_open_set"]
    assert gate["in_distribution"] is False and gate["score"] > gate["threshold"]
    assert gate["method"] == "cosine-centres" and "out-of-distribution score" in gate["reason"]
    assert body["imagenet_tags"][0]["name"] == "espresso"  # the photo is still described
    assert upload.policy_explanation["open_set"]["in_distribution"] is False
    shoe = _classified(fashion_png(0)[0], "shoe.png", partner)
    for item, listed in ((upload, False), (shoe, True)):
        label = item.product_prediction.label
        found = api_client.get(f"/api/v1/uploads/?label={label}", HTTP_AUTHORIZATION=f"Api-Key {key}").json()
        assert (str(item.pk) in {r["id"] for r in found["results"]}) is listed


def test_api_keeps_the_tags_of_a_product_shot(open_set_models, partner_key, api_client):
    partner, key = partner_key()
    upload = _classified(fashion_png(0)[0], "shoe.png", partner)
    body = api_client.get(f"/api/v1/uploads/{upload.pk}/", HTTP_AUTHORIZATION=f"Api-Key {key}").json()
    product = upload.product_prediction
    assert body["tags"] and body["tags"][0]["label"] == product.label
    assert body["tags_open_set"]["in_distribution"] is True and body["tags_open_set"]["reason"] == ""


def test_without_a_gate_nothing_is_withheld(photo_models, partner_key, api_client):
    partner, key = partner_key()
    upload = _classified(skimage_jpeg("coffee"), "coffee.jpg", partner)
    body = api_client.get(f"/api/v1/uploads/{upload.pk}/", HTTP_AUTHORIZATION=f"Api-Key {key}").json()
    assert body["tags"] and body["tags_open_set"] is None


def test_review_pages_show_no_wrong_tag_and_approval_records_no_example(open_set_models, client, moderator):
    FlagCategory.objects.filter(name="adult content").update(review_threshold=0.0)  # sends it to review
    upload = _classified(skimage_jpeg("chelsea"), "cat.jpg")
    assert upload.status == UploadStatus.IN_REVIEW
    label = upload.product_prediction.label
    client.force_login(moderator)
    queue = client.get("/review/").content.decode()
    assert "no product tag" in queue and f'<span class="tag">{label}' not in queue
    page = client.get(f"/review/{upload.pk}/").content.decode()
    assert "No product tag: not a product shot the model knows" in page and "Where the evidence" not in page
    decision = review_decide(upload_id=upload.pk, moderator=moderator, verdict="approve")
    assert decision.label_before == "" and decision.label_after == ""
    assert not TrainingExample.objects.exists()  # a cat is no confirmed "Bag"


def test_webhooks_and_the_uploaders_page_carry_no_withheld_tag(open_set_models, client):
    import json

    from django.contrib.auth import get_user_model

    from moderation.services.webhooks import upload_payload

    user = get_user_model().objects.create_user("bob", password="bob-pass-123")
    upload = upload_create(data=skimage_jpeg("coffee"), filename="coffee.jpg", uploader=user)
    upload_classify(upload_id=upload.pk)
    upload.refresh_from_db()
    label = upload.product_prediction.label
    assert not upload.product_prediction.in_distribution
    assert label not in json.dumps(upload_payload(upload, "upload.decided"))
    client.force_login(user)
    assert label not in client.get("/posts/").content.decode()

"""Product tags on real photos, end to end: real photos through the partner
API, judged by a real Celery worker with the real backbone, the open-set gate
and the real-photo product model; a moderator's labels retrain that model and
change what the worker says of the next upload."""

from __future__ import annotations

import pytest

from bench.real_products import DATA
from classifier.inference import forget_loaded_models
from classifier.models import ModelRole, TrainingExample
from classifier.retraining import retrain_if_due
from moderation.services.review import review_decide
from tests.conftest import ROOT
from tests.e2e.uploads import judged as api_judged
from tests.helpers import listing_flag_category

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

SNEAKER = DATA / "sneaker" / "dreambooth_colorful_sneaker_01.jpg"
DOG = ROOT / "tests" / "data" / "photos" / "dog-00.jpg"
BLAZERS = sorted((ROOT / "bench" / "data" / "feedback_photos" / "blazer").glob("*.jpg"))


def judged(api_client, key: str, path, **fields) -> dict:
    """A photo file through the API to the worker's verdict, as the partner GETs it."""
    return api_judged(api_client, key, path.read_bytes(), path.name, timeout=120, **fields)[1]


def test_a_real_sneaker_gets_sneaker_and_a_dog_no_product_tag(
    celery_worker, real_photo_models, partner_key, api_client
):
    _, key = partner_key()
    sneaker = judged(api_client, key, SNEAKER)
    assert sneaker["tags"][0]["label"] == "Sneaker"
    photo = real_photo_models["photo"]
    assert sneaker["tags"][0]["model_version"] == {
        "id": photo.pk,
        "name": photo.name,
        "architecture": photo.architecture,
    }
    assert sneaker["model_version"]["id"] == photo.pk
    assert sneaker["tags_open_set"]["route"] == "photo" and sneaker["tags_open_set"]["reason"] == ""
    assert all(tag["label"] != "no product" for tag in sneaker["tags"])

    dog = judged(api_client, key, DOG)
    assert dog["tags"] == []
    assert dog["tags_open_set"]["route"] == "photo" and not dog["tags_open_set"]["in_distribution"]
    assert dog["tags_open_set"]["reason"].startswith("no product shown")
    assert dog["status"] == "approved"


def test_the_listing_check_works_on_real_photos(celery_worker, real_photo_models, partner_key, api_client):
    listing_flag_category()
    _, key = partner_key()
    shoe = judged(api_client, key, SNEAKER, declared_category="Sneaker")
    assert "listing_mismatch" not in {flag["kind"] for flag in shoe["flags"]}
    dog = judged(api_client, key, DOG, declared_category="Sneaker")
    [mismatch] = [flag for flag in dog["flags"] if flag["kind"] == "listing_mismatch"]
    assert "not shown" in mismatch["reason"] and "no product shown" in mismatch["reason"]
    assert dog["status"] == "in_review"


def test_a_moderators_labels_on_real_photos_change_the_next_uploads_tag(
    celery_worker, real_photo_models, partner_key, api_client, moderator, settings
):
    """Blazers listed as suits: the model says otherwise, so they wait for a
    moderator, who approves them as "Suit". The retrained real-photo model (the
    gate promotes it on the held-out labels) tags the next blazer "Suit"."""
    listing_flag_category()
    settings.PHOTO_GATE_MIN_HOLDOUT = 1
    settings.PHOTO_GATE_BASE_MARGIN = 0.05  # 3 shipped photos of each kind in tests: one base photo is 1.5 points
    _, key = partner_key()
    next_blazer = BLAZERS[0]
    before = judged(api_client, key, next_blazer)
    assert not before["tags"] or before["tags"][0]["label"] != "Suit"

    labelled = [judged(api_client, key, path, declared_category="Suit") for path in BLAZERS[1:36]]
    in_review = [body["id"] for body in labelled if body["status"] == "in_review"]
    assert len(in_review) >= 25, [body["tags"][:1] for body in labelled]
    for upload_id in in_review:
        review_decide(upload_id=upload_id, moderator=moderator, verdict="approve", label="Suit")
    examples = TrainingExample.objects.filter(role=ModelRole.PRODUCT_PHOTO, label="Suit")
    assert examples.count() == len(in_review) and examples.filter(holdout=True).exists()

    run = retrain_if_due(trigger="manual", min_new=1, role=ModelRole.PRODUCT_PHOTO)
    assert run is not None and run.promoted, run and (run.error, run.candidate and run.candidate.gate)
    forget_loaded_models()
    after = judged(api_client, key, next_blazer)
    assert after["tags"][0]["label"] == "Suit"
    assert after["tags"][0]["model_version"]["id"] == run.candidate.pk

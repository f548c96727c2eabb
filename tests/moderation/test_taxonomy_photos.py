"""Real photos through the real photo models: sensible categories, and
approved when no risk signal fires, whatever the clothing model says."""

import pytest

from moderation.models import UploadStatus
from moderation.services.uploads import upload_classify, upload_create
from tests.conftest import skimage_jpeg

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "name,category", [("coffee", "food and drink"), ("chelsea", "animals"), ("rocket", "vehicles")]
)
def test_ordinary_photos_get_their_category_and_are_approved(photo_models, name, category):
    upload = upload_create(data=skimage_jpeg(name), filename=f"{name}.jpg")
    upload_classify(upload_id=upload.pk)
    upload.refresh_from_db()
    top_name, top_score = upload.top_categories[0]
    assert top_name == category and top_score > 0.5
    # The tiny clothing model still calls each of them some garment; it does not matter.
    assert upload.status == UploadStatus.APPROVED and not upload.flags.exists(), upload.policy_explanation
    assert upload.policy_explanation["categories"][category] == pytest.approx(top_score)


def test_a_cat_listed_as_footwear_is_a_listing_mismatch(photo_models):
    upload = upload_create(data=skimage_jpeg("chelsea"), filename="cat.jpg", declared_category="Footwear")
    upload_classify(upload_id=upload.pk)
    upload.refresh_from_db()
    flag = upload.flags.get()
    assert (upload.status, flag.kind, upload.declared_category) == (
        UploadStatus.IN_REVIEW,
        "listing_mismatch",
        "footwear",
    )
    assert flag.score > 0.95 and "declared category 'footwear'" in flag.reason

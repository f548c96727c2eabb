"""Categories on the review page, the uploader's "My posts" and the queue;
the taxonomy edited in the admin, every move audited."""

import pytest
from django.contrib.auth import get_user_model

from moderation.models import AuditEvent, FlagCategory, ImageNetClass, TaxonomyCategory, UploadStatus
from tests.moderation.frozen_analysis import ESPRESSO, PLATE, REVOLVER, TORN_PRODUCT, decided_upload, make_versions

pytestmark = pytest.mark.django_db


@pytest.fixture
def versions(db):
    return make_versions()


def test_review_page_and_queue_show_the_top_categories(client, moderator, versions):
    upload = decided_upload(
        versions, product=TORN_PRODUCT, imagenet={REVOLVER: 0.35, ESPRESSO: 0.65}, declared="food and drink"
    )
    assert upload.status == UploadStatus.IN_REVIEW  # the weapons flag
    client.force_login(moderator)
    page = client.get(f"/review/{upload.pk}/").content.decode()
    assert "<h3>Categories" in page and "<td>food and drink</td><td>0.650</td>" in page
    assert "<td>weapons</td><td>0.350</td>" in page
    assert 'class="declared">food and drink<' in page
    queue = client.get("/review/").content.decode()
    assert '<span class="tag category">food and drink 0.650</span>' in queue


def test_my_posts_shows_the_top_categories(client, versions):
    author = get_user_model().objects.create_user("ann", password="ann-pass-123")
    decided_upload(versions, product=TORN_PRODUCT, imagenet={ESPRESSO: 0.7, PLATE: 0.3}, uploader=author)
    client.force_login(author)
    page = client.get("/posts/").content.decode()
    # espresso and plate are both food; the uploader sees the category, not its score (issue 17)
    assert '<span class="tag">food and drink</span>' in page and "1.00" not in page


def test_a_lead_moves_a_class_in_the_admin_and_it_is_audited(admin_client, admin_user):
    weapons = TaxonomyCategory.objects.get(name="weapons")
    response = admin_client.post(
        "/admin/moderation/imagenetclass/?q=cleaver",
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-index": "499",
            "form-0-category": str(weapons.pk),
            "_save": "Save",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    cleaver = ImageNetClass.objects.get(index=499)
    assert cleaver.category == weapons and cleaver.source.startswith("admin edit by admin (was kitchenware)")
    event = AuditEvent.objects.get(action="taxonomy.changed")
    assert event.actor == admin_user and event.data["to"] == "weapons"
    for url in (
        "/admin/moderation/taxonomycategory/",
        f"/admin/moderation/taxonomycategory/{weapons.pk}/change/",
        "/admin/moderation/imagenetclass/",
        "/admin/moderation/flagcategory/",
        f"/admin/moderation/flagcategory/{FlagCategory.objects.get(name='weapons').pk}/change/",
    ):
        assert admin_client.get(url).status_code == 200, url


def test_the_admin_refuses_a_goods_flag_without_a_category(admin_client):
    response = admin_client.post(
        "/admin/moderation/flagcategory/add/",
        {
            "name": "knives",
            "kind": "goods",
            "review_threshold": "0.3",
            "reject_threshold": "0.9",
            "enabled": "on",
            "description": "",
        },
    )
    assert response.status_code == 200 and "needs its taxonomy category" in response.content.decode()
    assert not FlagCategory.objects.filter(name="knives").exists()

import pytest
from django.contrib.auth import get_user_model

from moderation.models import Upload, UploadStatus
from moderation.services.uploads import upload_classify, upload_create
from tests.factories import UNSURE, ModelVersionFactory, analysis, classified, policy_approves_nothing
from tests.helpers import fashion_png

pytestmark = pytest.mark.django_db


@pytest.fixture
def uploader(db):
    return get_user_model().objects.create_user("alice", password="alice-pass-1")


def _post(user, index=0, caption="my <b>shoe</b>") -> Upload:
    return upload_create(
        data=fashion_png(index)[0], filename="<img src=x onerror=alert(1)>.png", caption=caption, uploader=user
    )


def test_anonymous_is_sent_to_sign_in(client):
    for url in ["/upload/", "/posts/", "/review/"]:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_plain_user_cannot_review(client, uploader):
    client.force_login(uploader)
    assert client.get("/review/").status_code == 403  # signed in: the 403 page, not the sign-in form
    assert client.get("/upload/").status_code == 200


def test_review_queue_lists_items_and_escapes_names(client, moderator, uploader):
    policy_approves_nothing()
    upload = classified(_post(uploader), analysis(UNSURE))
    client.force_login(moderator)
    page = client.get("/review/").content.decode()
    assert str(upload.pk) in page and "1 waiting" in page
    detail = client.get(f"/review/{upload.pk}/").content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;.png" in detail
    assert "<img src=x" not in detail
    assert "&lt;b&gt;shoe&lt;/b&gt;" in detail


def test_decision_through_the_page_opens_next_item(client, moderator, uploader):
    policy_approves_nothing()
    version = ModelVersionFactory()
    first, second = _post(uploader, 0), _post(uploader, 1)
    for u in (first, second):
        classified(u, analysis(UNSURE, version=version))
    client.force_login(moderator)
    response = client.post(
        f"/review/{first.pk}/", {"verdict": "reject", "reason_code": "spam", "label": "", "note": ""}, follow=True
    )
    assert response.redirect_chain[-1][0] == f"/review/{second.pk}/"
    second.refresh_from_db()
    assert second.claimed_by == moderator  # opening the next item claimed it
    first.refresh_from_db()
    assert first.status == UploadStatus.REJECTED


def test_image_view_authorisation(client, moderator, uploader):
    upload = _post(uploader)
    other = get_user_model().objects.create_user("bob", password="bob-pass-1")
    url = f"/uploads/{upload.pk}/image"
    assert client.get(url).status_code == 404  # pending: not public
    client.force_login(other)
    assert client.get(url).status_code == 404
    client.force_login(uploader)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in response["Content-Security-Policy"]
    client.force_login(moderator)
    assert client.get(url).status_code == 200


def test_feed_shows_only_approved_posts(client, uploader):
    approved, held = _post(uploader, 0, caption="approved one"), _post(uploader, 1, caption="held one")
    Upload.objects.filter(pk=approved.pk).update(status=UploadStatus.APPROVED)
    Upload.objects.filter(pk=held.pk).update(status=UploadStatus.IN_REVIEW)
    page = client.get("/feed/").content.decode()
    assert "approved one" in page and "held one" not in page
    assert client.get(f"/uploads/{approved.pk}/image").status_code == 200


def test_my_posts_shows_held_and_rejected(client, uploader):
    a, b = _post(uploader, 0), _post(uploader, 1)
    Upload.objects.filter(pk=a.pk).update(status=UploadStatus.IN_REVIEW)
    Upload.objects.filter(pk=b.pk).update(status=UploadStatus.REJECTED)
    client.force_login(uploader)
    page = client.get("/posts/").content.decode()
    assert "Held for review" in page and "Rejected" in page


def test_signup_then_upload_page(client):
    response = client.post(
        "/accounts/signup/", {"username": "carol", "password1": "a-long-pass-77", "password2": "a-long-pass-77"}
    )
    assert response.status_code == 302 and response["Location"] == "/upload/"
    assert client.get("/upload/").status_code == 200


def test_session_user_uploads_through_the_api(client, uploader):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(uploader)
    response = client.post(
        "/api/v1/uploads/", {"image": SimpleUploadedFile("x.png", fashion_png(2)[0]), "caption": "hi"}
    )
    assert response.status_code == 202
    upload = Upload.objects.get(pk=response.json()["id"])
    assert upload.uploader == uploader and upload.partner is None


def test_review_page_explains_photo_flags_and_draws_the_heat_map(client, moderator, photo_models, uploader):
    from moderation.models import FlagCategory
    from tests.conftest import skimage_jpeg

    FlagCategory.objects.filter(name="adult content").update(review_threshold=0.0)  # every photo goes to review
    upload = upload_create(data=skimage_jpeg("coffee"), filename="coffee.jpg", uploader=uploader)
    upload_classify(upload_id=upload.pk)
    client.force_login(moderator)
    page = client.get(f"/review/{upload.pk}/").content.decode()
    assert "espresso" in page and "Adult-content score" in page
    assert "adult content:" in page and "≥ review threshold 0.00" in page
    response = client.get(f"/review/{upload.pk}/heatmap.png")
    assert response.status_code == 200 and response.content.startswith(b"\x89PNG")
    assert client.get(f"/review/{upload.pk}/heatmap.png").content == response.content  # cached


def test_reject_into_a_bank_from_the_review_page(client, moderator, uploader):
    from moderation.models import BankedHash, HashBank
    from tests.factories import upload_in_review

    upload = upload_in_review(uploader=uploader)
    bank = HashBank.objects.get(name="known-bad")
    client.force_login(moderator)
    client.post(f"/review/{upload.pk}/", {"verdict": "reject", "reason_code": "other", "bank": bank.pk})
    entry = BankedHash.objects.get(bank=bank)
    upload.refresh_from_db()
    assert entry.upload == upload and entry.pdq_hash == upload.pdq_hash and entry.added_by == moderator

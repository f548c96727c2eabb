"""What an uploader sees (issue 17): the reason a post is held or rejected in
plain words, the expected wait, the badge after an appeal, the live status
JSON, the notifications list; and the account pages around them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.utils import timezone

from moderation.humanize import duration_words, human_bytes
from moderation.models import Decision
from moderation.services.appeals import appeal_open
from moderation.uploader_status import WaitEstimate
from tests.browser.world import PASSWORDS, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db):
    return build_world()


@pytest.fixture
def poster_client(client, world):
    client.force_login(world.users["poster"])
    return client


def _status(client, upload):
    response = client.get(f"/posts/{upload.pk}/status.json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    return response.json()


def test_a_held_post_says_why_and_how_long_in_plain_words(poster_client, world):
    data = _status(poster_client, world.posts["held"])
    assert data["status"] == "in_review" and data["badge"] == "Held for review" and not data["final"]
    assert data["reason"] == "It is held because it may show adult content."
    # The scene's moderators decided 6 times in the last day: 6/24 = 0.25 an
    # hour; no other post is ahead of this one, so 1 / 0.25 = 4 hours.
    assert data["estimate"] == "A moderator will look at it in about 4 hours; no other post is ahead of it."
    assert not re.search(r"\d\.\d\d", data["reason"] + data["estimate"])  # no raw scores


def test_the_estimate_counts_the_posts_ahead_and_says_so_when_nobody_decides():
    assert WaitEstimate(ahead=11, decided_per_hour=6).text().startswith("A moderator will look at it in about 2 hours")
    assert "11 posts are ahead" in WaitEstimate(ahead=11, decided_per_hour=6).text()
    quiet = WaitEstimate(ahead=1, decided_per_hour=0).text()
    assert "1 post is ahead" in quiet and "within a day" in quiet


def test_without_decisions_in_the_last_day_the_estimate_says_it_cannot_time_it(poster_client, world):
    Decision.objects.update(created_at=timezone.now() - timedelta(days=2))
    assert "within a day" in _status(poster_client, world.posts["held"])["estimate"]


def test_an_appealed_post_has_an_estimate_too(poster_client, world):
    appeal_open(upload_id=world.posts["moderator_rejected"].pk, message="It is a real bag.", user=world.users["poster"])
    data = _status(poster_client, world.posts["moderator_rejected"])
    assert (
        data["badge"] == "Appeal under review" and data["reason"] == "A different moderator is looking at your appeal."
    )
    assert data["estimate"].startswith("A moderator will look at it in about")


def test_a_rejected_post_names_the_flag_or_the_moderators_reason(poster_client, world):
    auto = _status(poster_client, world.posts["auto_rejected"])
    assert auto["badge"] == "Rejected" and auto["reason"] == "It was rejected because it may show adult content."
    assert auto["can_appeal"] and auto["final"]
    by_hand = _status(poster_client, world.posts["moderator_rejected"])
    assert by_hand["reason"] == "A moderator rejected it because it is spam or a scam."


def test_badges_after_an_appeal_read_as_sentences(poster_client, world):
    overturned = _status(poster_client, world.posts["overturned"])
    # One vocabulary with the API's appeal.status: the rejection is overturned or upheld.
    assert overturned["badge"] == "Published — rejection overturned on appeal" and overturned["tone"] == "ok"
    declined = _status(poster_client, world.posts["declined"])
    assert declined["badge"] == "Rejected — rejection upheld on appeal" and not declined["can_appeal"]
    page = poster_client.get("/posts/").content.decode()
    assert "Published — rejection overturned on appeal" in page and "appeal upheld" not in page.lower()


def test_my_posts_shows_reasons_and_a_full_appeal_field(poster_client, world):
    page = poster_client.get("/posts/").content.decode()
    assert "It was rejected because it may show adult content." in page
    assert "A moderator rejected it because it is spam or a scam." in page
    # The appeal is a labelled textarea (not a one-line input cut off in a narrow card).
    assert re.search(r'<textarea id="appeal-[0-9a-f-]+" name="message"', page)
    assert 'data-status-url="/posts/' in page and "js/post_status.js" in page


def test_status_json_is_only_for_the_posts_owner(client, world):
    upload = world.posts["held"]
    assert client.get(f"/posts/{upload.pk}/status.json").status_code == 302  # sign in first
    client.force_login(world.users["mod1"])
    assert client.get(f"/posts/{upload.pk}/status.json").status_code == 404
    other = get_user_model().objects.create_user("other", password="x")
    client.force_login(other)
    assert client.get(f"/posts/{upload.pk}/status.json").status_code == 404


def test_notifications_list_every_decision_and_the_appeals(poster_client, world):
    assert ">6<" in poster_client.get("/upload/").content.decode().replace(" ", "")  # unread count in the nav
    page = poster_client.get("/notifications/").content.decode()
    assert "rejection overturned on appeal; it is published." in page
    assert "rejection upheld on appeal; it stays rejected." in page
    assert "held for review. It is held because it may show adult content." in page
    assert "rejected. A moderator rejected it because it is spam or a scam." in page
    # Seen: the count is gone until the next decision.
    assert 'class="nav-count"' not in poster_client.get("/upload/").content.decode()


def test_upload_page_has_a_post_button_and_a_keyboard_drop_zone(poster_client):
    page = poster_client.get("/upload/").content.decode()
    assert '<button id="post" type="submit" class="primary" disabled>Post</button>' in page
    assert 'id="dropzone" class="dropzone" tabindex="0" role="button"' in page
    assert "up to 20.0 MB each" in page


def test_sizes_read_as_people_write_them():
    assert human_bytes(22092422) == "21.1 MB"
    assert human_bytes(900) == "900 bytes"
    assert human_bytes(2048) == "2.0 KB"
    assert duration_words(60) == "1 hour" and duration_words(150) == "2½ hours" and duration_words(5) == "5 minutes"


def test_a_too_large_file_is_refused_in_megabytes(poster_client, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.UPLOAD_MAX_BYTES = 1024 * 1024
    body = SimpleUploadedFile("big.png", b"\0" * (1024 * 1024 + 60_000), content_type="image/png")
    response = poster_client.post("/api/v1/uploads/", {"image": body})
    assert response.status_code == 413
    assert response.json()["error"]["message"] == "The file is 1.1 MB; the limit is 1.0 MB."
    body = SimpleUploadedFile("big.png", b"\0" * (1024 * 1024 + 10), content_type="image/png")
    message = poster_client.post("/api/v1/uploads/", {"image": body}).json()["error"]["message"]
    assert message == "The file is 1,048,586 bytes; the limit is 1,048,576 bytes."  # not "1.0 MB; … 1.0 MB"


# --- Accounts


def test_sign_in_links_to_sign_up_and_password_reset(client):
    page = client.get("/accounts/login/").content.decode()
    assert 'href="/accounts/signup/"' in page and 'href="/accounts/password_reset/"' in page


def test_password_reset_sends_a_link_that_sets_a_new_password(client, world):
    response = client.post("/accounts/password_reset/", {"email": "poster@example.com"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password_reset/done/"
    [message] = mail.outbox
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", message.body).group(1)
    form_url = client.get(link)["Location"]  # Django swaps the token for a session one
    response = client.post(form_url, {"new_password1": "a-new-pass-2026", "new_password2": "a-new-pass-2026"})
    assert response.status_code == 302 and response["Location"] == "/accounts/reset/done/"
    signed_in = client.post("/accounts/login/", {"username": "poster", "password": "a-new-pass-2026"})
    assert signed_in.status_code == 302 and "_auth_user_id" in client.session


def test_sign_up_takes_an_email_for_password_resets(client):
    response = client.post(
        "/accounts/signup/",
        {
            "username": "newbie",
            "email": "newbie@example.com",
            "password1": "pw-newbie-2026",
            "password2": "pw-newbie-2026",
        },
    )
    assert response.status_code == 302
    assert get_user_model().objects.get(username="newbie").email == "newbie@example.com"


def test_the_lockout_is_a_styled_429_that_says_it_lasts_an_hour(client, world, settings):
    assert settings.AXES_COOLOFF_TIME == 1  # hours, the configured cool-off
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "poster", "password": "wrong"})
    response = client.post("/accounts/login/", {"username": "poster", "password": PASSWORDS["poster"]})
    page = response.content.decode()
    assert response.status_code == 429 and response["Retry-After"] == "3600"
    assert "Sign-in locked for an hour" in page and 'href="/static/css/app.css"' in page


def test_the_lockout_page_follows_the_configured_cool_off(client, world, settings):
    settings.AXES_COOLOFF_TIME = 0.5
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        response = client.post("/accounts/login/", {"username": "poster", "password": "wrong"})
    assert response.status_code == 429 and "locked for 30 minutes" in response.content.decode()


@pytest.mark.parametrize("url", ["/lead/metrics/", "/lead/audit/", "/lead/thresholds/"])
def test_a_moderator_on_a_lead_page_gets_a_styled_403(client, world, url):
    client.force_login(world.users["mod1"])
    response = client.get(url)
    assert response.status_code == 403
    assert "You do not have access to this page" in response.content.decode()
    client.logout()
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_403_rule_is_in_the_decorator_every_guarded_view_uses():
    from django.contrib.auth.models import AnonymousUser
    from django.core.exceptions import PermissionDenied
    from django.http import HttpResponse
    from django.test import RequestFactory

    from moderation.access import permission_required

    @permission_required("moderation.view_metrics")
    def view(request):
        return HttpResponse("ok")

    request = RequestFactory().get("/x/")
    request.user = AnonymousUser()
    assert view(request).status_code == 302
    request.user = get_user_model().objects.create_user("plain", password="x")
    with pytest.raises(PermissionDenied):
        view(request)


def test_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/x-icon"
    assert b"".join(response.streaming_content)[:4] == b"\0\0\1\0"

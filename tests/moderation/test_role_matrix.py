"""Every page and endpoint, for every role and a second partner: the expected status."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from moderation.services.accounts import moderator_create
from moderation.services.uploads import upload_classify, upload_create
from tests.factories import policy_approves_nothing
from tests.helpers import fashion_png

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "uploader", "moderator", "lead", "admin", "partner_a", "partner_b"]

# url name -> expected status per role, in ROLES order. 302 = sent to sign in
# (or, for "/" and /review/next/, on to the right page); 403 = signed in, but
# the page is for another role (the styled 403 page, never the sign-in form).
MATRIX = {
    "/": [302, 302, 302, 302, 302, 302, 302],
    "/feed/": [200, 200, 200, 200, 200, 200, 200],
    "/upload/": [302, 200, 200, 200, 200, 302, 302],
    "/posts/": [302, 200, 200, 200, 200, 302, 302],
    "/posts/{post}/status.json": [302, 200, 404, 404, 404, 302, 302],
    "/notifications/": [302, 200, 200, 200, 200, 302, 302],
    "/favicon.ico": [200, 200, 200, 200, 200, 200, 200],
    "/accounts/password_reset/": [200, 200, 200, 200, 200, 200, 200],
    "/review/": [302, 403, 200, 200, 200, 302, 302],
    "/review/next/": [302, 403, 302, 302, 302, 302, 302],
    "/review/grid/": [302, 403, 200, 200, 200, 302, 302],
    "/review/qa/": [302, 403, 200, 200, 200, 302, 302],
    "/review/preferences/": [302, 403, 200, 200, 200, 302, 302],
    "/review/{post}/": [302, 403, 200, 200, 200, 302, 302],
    "/review/{post}/heatmap.png": [302, 403, 200, 200, 200, 302, 302],
    "/lead/thresholds/": [302, 403, 403, 200, 200, 302, 302],
    "/lead/audit/": [302, 403, 403, 200, 200, 302, 302],
    "/lead/metrics/": [302, 403, 403, 200, 200, 302, 302],
    "/lead/bank-entries/1/confirm/": [302, 403, 403, 405, 405, 302, 302],  # POST only
    "/lead/banks/": [302, 403, 403, 200, 200, 302, 302],
    "/uploads/{post}/image": [404, 200, 200, 200, 200, 404, 404],
    "/uploads/{partner_upload}/image": [404, 404, 200, 200, 200, 404, 404],
    "/admin/": [302, 302, 200, 200, 200, 302, 302],
    "/admin/classifier/modelversion/": [302, 302, 200, 200, 200, 302, 302],
    "/admin/moderation/apikey/": [302, 302, 403, 403, 200, 302, 302],
    "/api/v1/uploads/": [401, 200, 200, 200, 200, 200, 200],
    "/api/v1/uploads/{post}/": [401, 200, 404, 404, 404, 404, 404],
    "/api/v1/uploads/{partner_upload}/": [401, 404, 404, 404, 404, 200, 404],
    "/api/v1/webhooks/": [401, 404, 404, 404, 404, 200, 200],
    "/api/schema/": [200, 200, 200, 200, 200, 200, 200],
}


@pytest.fixture
def world(db, active_model, partner_key):
    User = get_user_model()
    uploader = User.objects.create_user("uploader", password="pw-uploader-1")
    moderator, _ = moderator_create(username="moderator", password="pw-mod-1")
    lead = User.objects.create_user("lead", password="pw-lead-1", is_staff=True)
    lead.groups.add(Group.objects.get(name="leads"))
    admin = User.objects.create_superuser("admin", "admin@example.com", "pw-admin-1")
    partner_a, key_a = partner_key("partner-a")
    _, key_b = partner_key("partner-b")
    policy_approves_nothing()
    post = upload_create(data=fashion_png(0)[0], filename="p.png", uploader=uploader)
    partner_upload = upload_create(data=fashion_png(1)[0], filename="q.png", partner=partner_a)
    for upload in (post, partner_upload):
        upload_classify(upload_id=upload.pk)
    return {
        "users": {"uploader": uploader, "moderator": moderator, "lead": lead, "admin": admin},
        "keys": {"partner_a": key_a, "partner_b": key_b},
        "ids": {"post": post.pk, "partner_upload": partner_upload.pk},
    }


def _client(role: str, world) -> APIClient:
    client = APIClient()
    if role in world["users"]:
        client.force_login(world["users"][role])
    elif role in world["keys"]:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {world['keys'][role]}")
    return client


@pytest.mark.parametrize("role", ROLES)
def test_every_url_for_every_role(role, world):
    client = _client(role, world)
    column = ROLES.index(role)
    wrong = []
    for template, expected in MATRIX.items():
        url = template.format(**world["ids"])
        status = client.get(url).status_code
        if status != expected[column]:
            wrong.append(f"{url}: {status}, expected {expected[column]}")
    assert not wrong, "\n".join(wrong)


def test_partner_b_never_sees_partner_a(world):
    client = _client("partner_b", world)
    listing = client.get("/api/v1/uploads/").json()["results"]
    assert str(world["ids"]["partner_upload"]) not in {row["id"] for row in listing}
    assert (
        client.post(
            f"/api/v1/uploads/{world['ids']['partner_upload']}/appeal/", {"message": "x"}, format="json"
        ).status_code
        == 404
    )

"""Issue 28, item 7: look-alike names and hidden characters. Sign-up took
`moderаtor` (a Cyrillic "а"), and captions kept right-to-left overrides and
zero-width characters. Both are refused or cleaned in the services, so the
sign-up page, the API and every other caller get the same."""

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile

from moderation.errors import InvalidInput
from moderation.models import Upload
from moderation.services.accounts import account_create, moderator_create
from moderation.services.uploads import upload_create
from tests.helpers import fashion_png

pytestmark = pytest.mark.django_db

LOOKALIKES = [
    ("moder\u0430tor", "username_mixed_script"),  # Cyrillic а among Latin letters
    ("\u0440\u0430\u0443\u0440\u0430l", "username_mixed_script"),  # раураl
    ("\u03a9mega", "username_mixed_script"),  # Greek Ω
    ("mod\u200b1", "username_hidden_characters"),  # zero-width space
    ("adm\u202ein", "username_hidden_characters"),  # right-to-left override
]


def _sign_up(client, username: str):
    return client.post(
        "/accounts/signup/", {"username": username, "password1": "a-long-pass-123", "password2": "a-long-pass-123"}
    )


@pytest.mark.parametrize(("username", "code"), LOOKALIKES)
def test_a_lookalike_username_is_refused_at_sign_up_and_in_the_service(client, username, code):
    page = _sign_up(client, username)
    assert page.status_code == 200 and "username" in page.context["form"].errors
    assert not User.objects.filter(username=username).exists()
    for create in (account_create, moderator_create):
        with pytest.raises(InvalidInput) as refused:
            create(username=username, password="a-long-pass-123")
        assert refused.value.code == code
    assert not User.objects.filter(username=username).exists()


def test_full_width_letters_are_refused_by_the_service_and_normalized_by_the_page(client):
    with pytest.raises(InvalidInput) as refused:
        account_create(username="\uff4d\uff4f\uff44", password="a-long-pass-123")  # ｍｏｄ
    assert refused.value.code == "username_not_normalized"
    assert _sign_up(client, "\uff4d\uff4f\uff44").status_code == 302  # Django's form folds it (NFKC)
    assert list(User.objects.values_list("username", flat=True)) == ["mod"]


def test_a_name_that_looks_like_a_taken_one_is_refused(client):
    account_create(username="paypal", password="a-long-pass-123")
    # All Cyrillic but for the Latin "l" it would be mixed; all Cyrillic, "рауа", looks like "paya".
    account_create(username="paya", password="a-long-pass-123")
    with pytest.raises(InvalidInput) as refused:
        account_create(username="\u0440\u0430\u0443\u0430", password="a-long-pass-123")
    assert refused.value.code == "username_confusable" and refused.value.detail == {"looks_like": "paya"}
    assert "looks like one that is already taken" in str(_sign_up(client, "\u0440\u0430\u0443\u0430").content, "utf8")


@pytest.mark.parametrize("username", ["moderator", "José", "модератор", "日本語ユーザー", "user.name+tag@x", "mod_1"])
def test_single_script_and_east_asian_names_are_taken(client, username):
    assert _sign_up(client, username).status_code == 302
    assert User.objects.filter(username=username).exists()


HIDDEN = "\u202e\u200b\u200c\u2060\ufeff\u2066\u2069\u00ad\U000e0041"  # RLO, ZWSP, ZWNJ, WJ, BOM, LRI, PDI, SHY, TAG A


def test_format_characters_are_stripped_from_captions_on_the_web_and_the_api(client, api_client, partner_key):
    caption = f"new in{HIDDEN}: shoes \U0001f469\u200d\U0001f4bb gpj.exe"
    partner, key = partner_key()
    through_api = api_client.post(
        "/api/v1/uploads/",
        {"image": SimpleUploadedFile("a.png", fashion_png(0)[0], content_type="image/png"), "caption": caption},
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )
    assert through_api.status_code in (201, 202), through_api.content
    assert (
        through_api.json()["caption"] == "new in: shoes \U0001f469\u200d\U0001f4bb gpj.exe"
    )  # the emoji's joiner kept
    person = User.objects.create_user("poster", password="poster-pass-1")
    client.force_login(person)
    through_web = client.post(
        "/api/v1/uploads/",
        {"image": SimpleUploadedFile("b.png", fashion_png(1)[0], content_type="image/png"), "caption": caption},
    )
    assert through_web.status_code in (201, 202), through_web.content
    direct = upload_create(data=fashion_png(2)[0], filename="c.png", caption=caption)
    for upload in Upload.objects.all():
        assert upload.caption == "new in: shoes \U0001f469\u200d\U0001f4bb gpj.exe", upload.pk
    assert Upload.objects.count() == 3 and direct.caption == upload.caption

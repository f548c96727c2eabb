"""Issue 28, item 6: partners and uploaders saw a bank match's Hamming
distance and the bank's threshold (in the flag's score and reason), so an
image could be nudged step by step until it no longer matched. Outside the
review pages, a match says only which bank it matched."""

import re

import numpy as np
import pytest

from moderation.models import FlagKind, HashBank
from moderation.representation import upload_representation
from moderation.services.banks import bank_hashes_import
from moderation.services.uploads import upload_create
from tests.factories import SURE, analysis, classified
from tests.helpers import fashion_png

pytestmark = pytest.mark.django_db

UPLOAD_HASH = "0" * 64  # the factories' analysis hashes every image so


def _near(hex_hash: str, bits: int) -> str:
    """A hash exactly `bits` bits from `hex_hash`."""
    array = np.unpackbits(np.frombuffer(bytes.fromhex(hex_hash), np.uint8))
    array[np.random.default_rng(3).choice(256, bits, replace=False)] ^= 1
    return np.packbits(array).tobytes().hex()


@pytest.fixture
def matched(partner_key, django_user_model):
    """A partner's and a person's upload, each 7 bits from an entry of a bank of 23."""
    bank = HashBank.objects.create(name="probed", action="review", max_distance=23)
    bank_hashes_import(bank=bank, hashes=[_near(UPLOAD_HASH, 7)])
    partner, key = partner_key()
    person = django_user_model.objects.create_user("poster", password="poster-pass-1")
    uploads = [
        classified(upload_create(data=fashion_png(i)[0], filename="x.png", **owner), analysis(SURE))
        for i, owner in enumerate(({"partner": partner}, {"uploader": person}))
    ]
    for upload in uploads:
        flag = upload.flags.get(kind=FlagKind.HASH_MATCH)
        assert flag.score == 7 and "7" in flag.reason and "23" in flag.reason  # the row keeps them
    return key, person, uploads


def _hash_flags(representation: dict) -> list[dict]:
    return [f for f in representation["flags"] if f["kind"] == FlagKind.HASH_MATCH]


def _tells_the_distance(text: str) -> bool:
    return bool(re.search(r"distance|bits|hamming|≤", text, re.IGNORECASE))


def test_the_api_and_the_webhooks_say_only_which_bank_matched(api_client, matched):
    key, _, (upload, _) = matched
    answer = api_client.get(f"/api/v1/uploads/{upload.pk}/", HTTP_AUTHORIZATION=f"Api-Key {key}").json()
    listed = api_client.get("/api/v1/uploads/", HTTP_AUTHORIZATION=f"Api-Key {key}").json()["results"][0]
    for representation in (answer, listed, upload_representation(upload)):  # the webhook payload's upload
        [flag] = _hash_flags(representation)
        assert flag["score"] is None and flag["category"] == "probed"
        assert flag["reason"] == "matches an entry of bank 'probed'"
        assert not _tells_the_distance(str(flag)) and not re.search(r"\b(7|23)\b", str(flag))


def test_the_uploader_reads_neither_distance_nor_threshold(client, api_client, matched):
    _, person, (_, own) = matched
    client.force_login(person)
    page = client.get("/posts/").content.decode()
    assert "matches an image that was removed before" in page and not _tells_the_distance(page)
    api_client.force_authenticate(person)
    [flag] = _hash_flags(api_client.get(f"/api/v1/uploads/{own.pk}/").json())
    assert flag["score"] is None and not _tells_the_distance(str(flag))


def test_moderators_still_see_the_distance(client, moderator, matched):
    _, _, (upload, _) = matched
    client.force_login(moderator)
    page = client.get(f"/review/{upload.pk}/").content.decode()
    assert "at a distance of 7 bits of 256" in page

"""Hash banks on real parts: uploads through the API are judged by a Celery
worker process, which opens the shared bank snapshot, picks up entries added
after it was built (its delta), lets an allow-list entry overrule a reject
bank, and stops an entry that floods, with an audit row, until a lead
confirms it. Real PDQ hashes of scikit-image's photos and edits of them (from the
originals: the cat halved 16 bits, blurred 4, brighter or flatter 0; the
coffee halved 20, brighter 12)."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageEnhance, ImageFilter

from moderation.models import AuditEvent, BankAction, BankedHash, BankMatch, HashBank, Upload, UploadStatus
from moderation.services.banks import bank_entry_confirm, bank_hashes_import
from tests.conftest import skimage_jpeg
from tests.e2e.uploads import judged as api_judged
from tests.helpers import encode

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def edited(name: str, edit) -> bytes:
    image = Image.open(io.BytesIO(skimage_jpeg(name))).convert("RGB")
    return encode(edit(image), "JPEG", quality=90)


def judged(api_client, key: str, data: bytes, name: str) -> Upload:
    return api_judged(api_client, key, data, name)[0]


def bank_flag(upload: Upload):
    return upload.flags.filter(kind="hash_match").first()


def test_a_real_worker_matches_banks_allows_and_stops_a_flooding_entry(
    celery_worker, active_model, partner_key, api_client, lead
):
    _, key = partner_key()
    # The worker's first lookup builds the shared snapshot (no entries yet).
    cat = judged(api_client, key, skimage_jpeg("chelsea"), "cat.jpg")
    coffee = judged(api_client, key, skimage_jpeg("coffee"), "coffee.jpg")
    assert bank_flag(cat) is None and bank_flag(coffee) is None

    # Entries added after the snapshot reach the worker through its delta.
    known_bad = HashBank.objects.create(
        name="exchange-list", action=BankAction.REJECT, max_distance=31, flood_limit=2, retro_days=0
    )
    allow = HashBank.objects.create(name="false-matches", action=BankAction.ALLOW, max_distance=16, retro_days=0)
    bank_hashes_import(bank=known_bad, hashes=[cat.pdq_hash, coffee.pdq_hash])
    cat_entry = BankedHash.objects.get(bank=known_bad, pdq_hash=cat.pdq_hash)
    coffee_entry = BankedHash.objects.get(bank=known_bad, pdq_hash=coffee.pdq_hash)

    half = judged(api_client, key, edited("chelsea", lambda im: im.resize((im.width // 2, im.height // 2))), "a.jpg")
    assert half.status == UploadStatus.REJECTED
    assert bank_flag(half).detail == {"bank_id": known_bad.pk, "entry_id": cat_entry.pk}
    smaller = judged(api_client, key, edited("coffee", lambda im: im.resize((im.width // 2, im.height // 2))), "b.jpg")
    assert smaller.status == UploadStatus.REJECTED

    # An allow-list entry within its distance overrules the reject bank.
    bank_hashes_import(bank=allow, hashes=[coffee.pdq_hash])
    allowed = judged(api_client, key, edited("coffee", lambda im: ImageEnhance.Brightness(im).enhance(1.2)), "c.jpg")
    assert bank_flag(allowed) is None
    assert BankMatch.objects.filter(entry=coffee_entry).count() == 1  # the match before the allow-list only

    # The cat entry's second match in the hour reaches the bank's flood limit of 2:
    # the third upload finds it quarantined, and it stops acting.
    blurred = judged(api_client, key, edited("chelsea", lambda im: im.filter(ImageFilter.GaussianBlur(2))), "d.jpg")
    assert bank_flag(blurred).detail["entry_id"] == cat_entry.pk
    flooded = judged(api_client, key, edited("chelsea", lambda im: ImageEnhance.Contrast(im).enhance(0.8)), "e.jpg")
    assert bank_flag(flooded) is None
    cat_entry.refresh_from_db()
    assert cat_entry.quarantined_at is not None
    audit = AuditEvent.objects.get(action="bank.entry_quarantined", target_id=str(cat_entry.pk))
    assert audit.data["matches_last_hour"] == 2

    # A lead confirms it: the worker matches it again.
    bank_entry_confirm(entry_id=cat_entry.pk, actor=lead)
    again = judged(api_client, key, edited("chelsea", lambda im: ImageEnhance.Brightness(im).enhance(1.2)), "f.jpg")
    assert again.status == UploadStatus.REJECTED and bank_flag(again).detail["entry_id"] == cat_entry.pk

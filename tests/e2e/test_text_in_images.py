"""Text in images on real parts (issue 27): uploads through the API are read
by a Celery worker process (the PP-OCRv4 models and zxing-cpp), and the text
flags follow: a phone number in an overlay is contact details, a QR code to
a blocked domain names that domain, a photo without text has no text flag."""

from __future__ import annotations

import pytest

from moderation.models import FlagKind, UploadStatus
from moderation.services.text import domain_rule_set
from tests.e2e.uploads import judged
from tests.helpers import encode, qr_photo, skimage_photo, text_flag_categories, text_photo

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

TEXT_FLAGS = (FlagKind.TEXT_TERM, FlagKind.CONTACT_DETAILS, FlagKind.BLOCKED_DOMAIN)


def test_a_real_worker_reads_overlays_and_qr_codes(celery_worker, active_model, partner_key, api_client, lead):
    _, key = partner_key()
    text_flag_categories()
    domain_rule_set(actor=lead, domain="scam.example", listing="block")

    overlay, body = judged(
        api_client, key, encode(text_photo(["DM me on WhatsApp", "+44 7700 900123"]), "JPEG", quality=90), "a.jpg"
    )
    (flag,) = overlay.flags.filter(kind__in=TEXT_FLAGS)
    assert (flag.kind, flag.category) == (FlagKind.CONTACT_DETAILS, "contact: phone number")
    assert "+447700900123" in flag.reason
    assert overlay.status == UploadStatus.IN_REVIEW
    # (Spaces inside a line may come out differently with the worker's threads: compared without them.)
    assert ["".join(line["text"].split()) for line in body["text"]["lines"]] == ["DMmeonWhatsApp", "+447700900123"]
    assert [f["kind"] for f in body["flags"] if f["kind"] in TEXT_FLAGS] == ["contact_details"]

    qr, body = judged(api_client, key, encode(qr_photo("https://pay.scam.example/checkout"), "PNG"), "b.png")
    blocked = qr.flags.get(kind=FlagKind.BLOCKED_DOMAIN)
    assert "'scam.example'" in blocked.reason and blocked.detail["matches"][0]["value"] == "scam.example"
    assert qr.status == UploadStatus.REJECTED
    assert body["text"]["codes"][0]["text"] == "https://pay.scam.example/checkout"

    plain, body = judged(api_client, key, encode(skimage_photo("astronaut", (640, 480)), "JPEG", quality=90), "c.jpg")
    assert not plain.flags.filter(kind__in=TEXT_FLAGS).exists()
    assert body["text"] is not None and body["text"]["codes"] == []

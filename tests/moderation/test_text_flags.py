"""Text in images through the services (issue 27): the lead's lists (each
change audited, bad input refused), real OCR readings of real photos turned
into flags, what is stored, and the API's `text` field."""

from __future__ import annotations

from dataclasses import replace

import pytest

from classifier.inference import read_text
from moderation.errors import Conflict, Forbidden, InvalidInput
from moderation.models import AuditAction, AuditEvent, DomainRule, FlagCategory, FlagKind, TextTerm, UploadText
from moderation.services.text import (
    domain_rule_delete,
    domain_rule_set,
    text_term_create,
    text_term_delete,
    text_term_update,
)
from moderation.services.uploads import upload_create
from tests.factories import UNSURE, UploadFactory, analysis, classified
from tests.helpers import encode, qr_photo, skimage_photo, text_photo

pytestmark = pytest.mark.django_db


def _read(image):
    return read_text(image)


def _classified_with(image, **kwargs):
    upload = UploadFactory(data=encode(image, "JPEG", quality=90), width=image.width, height=image.height, **kwargs)
    return classified(upload, replace(analysis(dict(UNSURE)), text=_read(image)))


def _text_flags(upload):
    kinds = (FlagKind.TEXT_TERM, FlagKind.CONTACT_DETAILS, FlagKind.BLOCKED_DOMAIN)
    return list(upload.flags.filter(kind__in=kinds).order_by("category"))


def test_the_text_flag_categories_are_seeded_with_thresholds():
    kinds = dict(FlagCategory.objects.filter(kind__startswith="contact_").values_list("kind", "review_threshold"))
    assert kinds == {"contact_phone": 0.6, "contact_email": 0.6, "contact_url": 0.6, "contact_handle": 0.6}
    assert FlagCategory.objects.get(kind="blocked_domain").reject_threshold == 0.9


def test_a_phone_number_in_an_overlay_is_flagged_as_contact_details_and_the_text_kept():
    upload = _classified_with(text_photo(["DM me on WhatsApp", "+44 7700 900123"]))
    (flag,) = _text_flags(upload)
    assert (flag.kind, flag.category, flag.action) == ("contact_details", "contact: phone number", "review")
    assert "'+447700900123'" in flag.reason and "+44 7700 900123" in flag.reason
    assert upload.status == "in_review"
    reading = UploadText.objects.get(upload=upload)
    assert [line["text"] for line in reading.lines] == ["DM me on WhatsApp", "+44 7700 900123"]
    assert reading.text == "DM me on WhatsApp\n+44 7700 900123" and (reading.width, reading.height) == (640, 480)


def test_a_contact_kind_switched_off_raises_no_flag():
    FlagCategory.objects.filter(kind="contact_phone").update(enabled=False)
    upload = _classified_with(text_photo(["call +44 7700 900123"]))
    assert _text_flags(upload) == [] and upload.status != "rejected"


def test_a_qr_code_to_a_blocked_domain_is_flagged_with_that_domain(lead):
    domain_rule_set(actor=lead, domain="scam.example", listing="block")
    upload = _classified_with(qr_photo("https://pay.scam.example/checkout?id=1"))
    flags = {f.category: f for f in _text_flags(upload)}
    blocked = flags["blocked domain"]
    assert blocked.kind == "blocked_domain" and blocked.action == "reject"
    assert "'scam.example'" in blocked.reason and "(QR code)" in blocked.reason
    assert upload.status == "rejected"
    assert UploadText.objects.get(upload=upload).codes[0]["text"] == "https://pay.scam.example/checkout?id=1"


def test_a_listed_term_written_in_leetspeak_is_flagged(lead):
    text_term_create(actor=lead, term="replica", match="word")
    upload = _classified_with(text_photo(["R3PL1CA bags"], font_px=40))
    (flag,) = _text_flags(upload)
    assert flag.kind == "text_term" and "'replica'" in flag.reason


def test_a_photo_without_text_gets_no_text_flag_and_no_reading_rows_of_lines():
    upload = _classified_with(skimage_photo("astronaut", (640, 480)))
    assert _text_flags(upload) == []
    assert UploadText.objects.get(upload=upload).lines == []


def test_the_api_answers_the_text_with_boxes(api_client, partner_key):
    partner, key = partner_key()
    image = text_photo(["write to offers@bagmart.net"])
    upload = upload_create(data=encode(image, "JPEG", quality=90), partner=partner)
    classified(upload, replace(analysis(dict(UNSURE)), text=_read(image)))
    body = api_client.get(f"/api/v1/uploads/{upload.pk}/", HTTP_AUTHORIZATION=f"Api-Key {key}").json()
    (line,) = body["text"]["lines"]
    assert line["text"] == "write to offers@bagmart.net" and 0.5 < line["confidence"] <= 1
    assert len(line["box"]) == 4 and line["box"][0] < line["box"][2]
    assert body["text"]["codes"] == [] and body["text"]["width"] == 640
    assert [f["category"] for f in body["flags"]] == ["contact: e-mail address"]


def test_an_upload_not_yet_read_answers_null_text(api_client, partner_key):
    partner, key = partner_key()
    upload = upload_create(data=encode(skimage_photo("coffee"), "JPEG"), partner=partner)
    body = api_client.get(f"/api/v1/uploads/{upload.pk}/", HTTP_AUTHORIZATION=f"Api-Key {key}").json()
    assert body["text"] is None


def test_term_changes_are_audited_and_bad_terms_refused(lead):
    row = text_term_create(actor=lead, term=" cheap\\s+pills ", match="regex", note="spam")
    assert row.term == "cheap\\s+pills"
    text_term_update(actor=lead, term_id=row.pk, enabled=False)
    text_term_delete(actor=lead, term_id=row.pk)
    events = AuditEvent.objects.filter(action=AuditAction.TEXT_TERM_CHANGED).order_by("id")
    assert [(e.data["op"], e.actor_name) for e in events] == [("add", "lead"), ("change", "lead"), ("delete", "lead")]
    assert events[1].data["before"]["enabled"] is True and events[1].data["after"]["enabled"] is False
    assert not TextTerm.objects.exists()

    with pytest.raises(InvalidInput) as refused:
        text_term_create(actor=lead, term="(a+)+", match="regex")
    assert refused.value.code == "invalid_term"
    text_term_create(actor=lead, term="free", match="word")
    with pytest.raises(Conflict):
        text_term_create(actor=lead, term="free", match="word")
    assert AuditEvent.objects.filter(action=AuditAction.TEXT_TERM_CHANGED).count() == 4  # nothing for the refused


def test_only_a_lead_changes_the_lists(moderator):
    with pytest.raises(Forbidden):
        text_term_create(actor=moderator, term="free")
    with pytest.raises(Forbidden):
        domain_rule_set(actor=moderator, domain="scam.example", listing="block")
    assert not TextTerm.objects.exists() and not DomainRule.objects.exists()


def test_domain_rules_are_cleaned_moved_and_audited(lead):
    domain_rule_set(actor=lead, domain="https://WWW.Scam.Example/x", listing="block")
    assert DomainRule.objects.get().domain == "scam.example"
    domain_rule_set(actor=lead, domain="scam.example", listing="allow")
    assert DomainRule.objects.get().listing == "allow"
    domain_rule_delete(actor=lead, domain="scam.example")
    ops = [
        (e.data["op"], e.data.get("after"))
        for e in AuditEvent.objects.filter(action=AuditAction.DOMAIN_RULE_CHANGED).order_by("id")
    ]
    assert ops == [("add", "block"), ("change", "allow"), ("delete", None)]
    for bad, code in (("not a domain", "invalid_domain"), ("x.com", "invalid_listing")):
        with pytest.raises(InvalidInput) as refused:
            domain_rule_set(actor=lead, domain=bad, listing="block" if bad != "x.com" else "maybe")
        assert refused.value.code == code


def test_the_text_field_is_typed_in_the_openapi_schema(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]
    text = components["UploadOutput"]["properties"]["text"]
    assert text.get("nullable") and any("UploadText" in ref for ref in map(str, text.get("allOf", [text])))
    line = components["TextLine"]["properties"]
    assert line["box"]["items"]["format"] == "int32" and line["box"]["minItems"] == line["box"]["maxItems"] == 4
    assert line["confidence"]["maximum"] == 1 and components["DecodedCode"]["properties"]["text"]["type"] == "string"


def test_uploads_are_found_by_the_text_read_in_them(api_client, partner_key):
    partner, key = partner_key()
    _, other_key = partner_key()
    image = text_photo(["cheap pills at pillshop.com"])
    upload = upload_create(data=encode(image, "JPEG", quality=90), partner=partner)
    classified(upload, replace(analysis(dict(UNSURE)), text=_read(image)))
    plain = upload_create(data=encode(skimage_photo("coffee"), "JPEG"), partner=partner)

    def found(query, api_key=key):
        response = api_client.get("/api/v1/uploads/", {"text": query}, HTTP_AUTHORIZATION=f"Api-Key {api_key}")
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert found("PILLSHOP") == [str(upload.pk)]
    assert found("nothing like it") == []
    assert found("pills", other_key) == []  # another partner's uploads stay hidden
    assert str(plain.pk) not in found("pill")
    response = api_client.get("/api/v1/uploads/", {"text": "x" * 201}, HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_filter"


def test_the_lead_page_lists_adds_toggles_and_removes(client, lead, moderator):
    client.force_login(moderator)
    assert client.get("/lead/text/").status_code in (302, 403)  # not a moderator's page
    client.force_login(lead)
    page = client.get("/lead/text/")
    assert page.status_code == 200 and b"No term listed yet." in page.content

    client.post("/lead/text/", {"action": "add-term", "term": "replica", "match": "word", "note": "fakes"})
    term = TextTerm.objects.get(term="replica")
    client.post("/lead/text/", {"action": "toggle-term", "term_id": term.pk})  # no "enabled": off
    term.refresh_from_db()
    assert not term.enabled
    refused = client.post("/lead/text/", {"action": "add-term", "term": "(a+)+", "match": "regex"}, follow=True)
    assert b"exponential time" in refused.content and TextTerm.objects.count() == 1
    client.post("/lead/text/", {"action": "set-domain", "domain": "Scam.Example", "listing": "block"})
    shown = client.get("/lead/text/").content.decode()
    assert 'data-domain="scam.example"' in shown and 'data-term="replica"' in shown
    client.post("/lead/text/", {"action": "remove-domain", "domain": "scam.example"})
    client.post("/lead/text/", {"action": "remove-term", "term_id": term.pk})
    assert not DomainRule.objects.exists() and not TextTerm.objects.exists()
    actions = AuditEvent.objects.filter(
        action__in=[AuditAction.TEXT_TERM_CHANGED, AuditAction.DOMAIN_RULE_CHANGED]
    ).values_list("data__op", flat=True)
    assert sorted(actions) == ["add", "add", "change", "delete", "delete"]


def test_webhooks_carry_the_text(partner_key):
    from moderation.models import Upload
    from moderation.services.webhooks import upload_payload

    partner, _ = partner_key()
    image = qr_photo("https://pay.example.com/x")
    upload = upload_create(data=encode(image, "PNG"), partner=partner)
    classified(upload, replace(analysis(dict(UNSURE)), text=_read(image)))
    payload = upload_payload(Upload.objects.get(pk=upload.pk), "upload.decided")
    assert payload["upload"]["text"]["codes"][0]["text"] == "https://pay.example.com/x"
    assert payload["upload"]["text"]["codes"][0]["format"] == "QRCode"


def test_the_leads_upload_search_finds_uploads_by_their_text():
    from moderation.services.categories import uploads_search

    image = text_photo(["cheap pills at pillshop.com"])
    upload = UploadFactory(data=encode(image, "JPEG", quality=90), width=640, height=480)
    classified(upload, replace(analysis(dict(UNSURE), imagenet=[(720, "pill bottle", 0.6)]), text=_read(image)))
    other = UploadFactory()
    classified(other, analysis(dict(UNSURE), imagenet=[(720, "pill bottle", 0.6)]))
    [hit] = uploads_search(q="PILLSHOP")
    assert hit.upload.pk == upload.pk
    assert [(m.field, m.word) for m in hit.matches] == [("text in the image", "pillshop")]
    assert {h.upload.pk for h in uploads_search(q="")} == {upload.pk, other.pk}

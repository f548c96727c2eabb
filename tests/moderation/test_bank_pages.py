"""The banks pages for leads (issue 29, item 11): create a bank, remove an
entry, page through entries, a failed import's error beside its own form, an
export named after its bank once (known-bad.csv), and an audit log that pages
past 200 rows."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from moderation.errors import Forbidden
from moderation.models import AuditAction, AuditEvent, BankedHash, HashBank
from moderation.services.audit import audit_record
from moderation.services.bank_files import bank_create, bank_entry_remove

pytestmark = pytest.mark.django_db


def _hash(i: int) -> str:
    return f"{i:064x}"


def test_a_lead_creates_a_bank_and_a_bad_one_is_refused_beside_the_form(client, lead):
    client.force_login(lead)
    response = client.post("/lead/banks/", {"name": "vape ads", "action": "review", "max_distance": "20"})
    bank = HashBank.objects.get(name="vape ads")
    assert response["Location"] == f"/lead/banks/{bank.pk}/"
    assert (bank.action, bank.max_distance) == ("review", 20)
    assert AuditEvent.objects.get(action="bank.created").data["name"] == "vape ads"
    response = client.post("/lead/banks/", {"name": "Vape ads", "action": "review", "max_distance": "20"})
    page = response.content.decode()
    assert response.status_code == 400
    assert page.index('id="create-bank-error"') > page.index('id="create-bank"')  # beside its own form
    assert "exists" in page and HashBank.objects.count() == 1 + HashBank.objects.exclude(name="vape ads").count()
    assert client.post("/lead/banks/", {"name": "x", "max_distance": "999"}).status_code == 400


def test_a_moderator_creates_no_bank_and_removes_no_entry(moderator):
    bank = HashBank.objects.create(name="b")
    entry = BankedHash.objects.create(bank=bank, pdq_hash=_hash(1))
    with pytest.raises(Forbidden):
        bank_create(actor=moderator, name="mine")
    with pytest.raises(Forbidden):
        bank_entry_remove(entry_id=entry.pk, actor=moderator)
    assert BankedHash.objects.filter(pk=entry.pk).exists() and not HashBank.objects.filter(name="mine").exists()


def test_entries_page_and_one_is_removed(client, lead):
    bank = HashBank.objects.create(name="paged")
    BankedHash.objects.bulk_create(BankedHash(bank=bank, pdq_hash=_hash(i)) for i in range(1, 121))
    client.force_login(lead)
    first = client.get(f"/lead/banks/{bank.pk}/").content.decode()
    assert first.count("data-entry=") == 50 and "page 1 of 3" in first and 'rel="next"' in first
    last = client.get(f"/lead/banks/{bank.pk}/?page=3").content.decode()
    assert last.count("data-entry=") == 20
    entry = BankedHash.objects.filter(bank=bank).first()
    response = client.post(f"/lead/banks/entries/{entry.pk}/remove/", follow=True)
    assert "it matches nothing now" in response.content.decode()
    assert not BankedHash.objects.filter(pk=entry.pk).exists()
    assert AuditEvent.objects.get(action="bank.hash_removed").data["hash"] == entry.pdq_hash


def test_a_failed_import_shows_its_error_in_its_own_form_and_the_export_is_named_once(client, lead):
    bank = HashBank.objects.create(name="known-bad-2")
    client.force_login(lead)
    response = client.post(
        f"/lead/banks/{bank.pk}/",
        {"action": "import", "import-file": SimpleUploadedFile("list.txt", b"pdq not-a-hash\n")},
    )
    page = response.content.decode()
    form = page[page.index('id="import-list"') : page.index("</form>", page.index('id="import-list"'))]
    assert "errorlist" in form  # the service's message, inside the import form
    add_form = page[page.index('id="add-file"') : page.index("</form>", page.index('id="add-file"'))]
    assert "errorlist" not in add_form  # the other form is not bound, so it says nothing
    export = client.get(f"/lead/banks/{bank.pk}/export?format=csv")
    assert export["Content-Disposition"] == 'attachment; filename="known-bad-2.csv"'


def test_the_audit_log_pages_past_200_rows(client, lead):
    for i in range(230):
        audit_record(actor=lead, action=AuditAction.BANK_EXPORTED, target_type="test", target_id=f"row-{i:03d}")
    client.force_login(lead)
    first = client.get("/lead/audit/").content.decode()
    assert "row-229" in first and "row-030" in first and "row-029" not in first
    older = first.split('id="older"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    second = client.get(f"/lead/audit/{older}").content.decode()
    assert "row-029" in second and "row-000" in second and "row-030" not in second
    assert 'id="older"' not in second.split("</table>")[1]
    filtered = client.get("/lead/audit/?q=row-1").content.decode()  # the filters still apply
    assert "row-199" in filtered and "row-229" not in filtered

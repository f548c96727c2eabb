"""What moderators and leads see (issue 17, the dashboard part), rule by rule:
keyboard review walks the queue and releases skipped claims, every class has
a key, a reject says which reason it records, bulk decisions refuse an empty
selection and confirm a rejection, hash matches and QA cards read sensibly,
lead pages print percentages, readable audit rows and model figures, and
hash banks are filled from files and lists and exported in the exchange
formats."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from classifier.facade import FASHION_MNIST_CLASSES
from classifier.inference import image_pdq_hash
from classifier.models import ModelVersion, ModelVersionStatus
from classifier.registry import RegistryError, model_version_delete
from moderation.errors import ApplicationError, Forbidden, InvalidInput
from moderation.models import (
    AuditAction,
    AuditEvent,
    BankedHash,
    Decision,
    Flag,
    FlagKind,
    HashBank,
    QAItem,
    QAKind,
    RejectReason,
    Upload,
)
from moderation.services.audit import audit_record
from moderation.services.bank_files import (
    bank_export,
    bank_export_lines,
    bank_file_import,
    bank_hash_add_from_file,
    bank_hashes_parse,
)
from moderation.services.queue import queue_claim, queue_claim_next, queue_step
from moderation.services.review import review_decide, review_decide_bulk, review_labels
from moderation.templatetags.dashboard import details, percent
from moderation.views import label_keys
from tests.conftest import skimage_jpeg
from tests.factories import ModelVersionFactory, _png, uploads_in_review

pytestmark = pytest.mark.django_db

HASH_A = "a" * 64
HASH_B = "0123456789abcdef" * 4
HASH_C = "f" * 63 + "0"


def _in_queue_order(uploads: list[Upload]) -> list[str]:
    return [
        str(pk)
        for pk in Upload.objects.filter(pk__in=[u.pk for u in uploads])
        .order_by("-review_rank", "id")
        .values_list("pk", flat=True)
    ]


# --- keyboard review: J/K walk the queue; a skip releases the claim ---------


def test_j_walks_forward_through_the_whole_queue_and_never_alternates(moderator):
    order = _in_queue_order(uploads_in_review(4))
    current = queue_claim_next(moderator=moderator)
    seen = [str(current.pk)]
    for _ in range(3):
        current = queue_step(moderator=moderator, current_id=current.pk, direction="next")
        seen.append(str(current.pk))
    assert seen == order
    # Past the end it starts again at the top.
    assert str(queue_step(moderator=moderator, current_id=current.pk, direction="next").pk) == order[0]


def test_k_goes_back_to_the_previous_item_and_stops_at_the_first(moderator):
    order = _in_queue_order(uploads_in_review(3))
    third = queue_step(moderator=moderator, current_id=order[1], direction="next")
    assert str(third.pk) == order[2]
    back = queue_step(moderator=moderator, current_id=third.pk, direction="previous")
    assert str(back.pk) == order[1]
    first = queue_step(moderator=moderator, current_id=back.pk, direction="previous")
    assert str(first.pk) == order[0]
    assert queue_step(moderator=moderator, current_id=first.pk, direction="previous") is None


def test_a_skipped_item_is_released_at_once_for_the_next_moderator(moderator, second_moderator):
    uploads = uploads_in_review(2)
    first = queue_claim_next(moderator=moderator)
    queue_step(moderator=moderator, current_id=first.pk, direction="next")
    first.refresh_from_db()
    assert first.claimed_by_id is None and first.claimed_until is None
    # Not after five minutes: now.
    assert queue_claim(moderator=second_moderator, upload_id=first.pk).claimed_by == second_moderator
    assert len(uploads) == 2


def test_the_legacy_skip_list_releases_too(moderator, second_moderator):
    uploads_in_review(2)
    first = queue_claim_next(moderator=moderator)
    queue_claim_next(moderator=moderator, skip=[str(first.pk)])
    assert queue_claim(moderator=second_moderator, upload_id=first.pk).claimed_by == second_moderator


def test_a_step_leaves_another_moderators_claim_alone(moderator, second_moderator):
    order = _in_queue_order(uploads_in_review(3))
    queue_claim(moderator=second_moderator, upload_id=order[1])
    nxt = queue_step(moderator=moderator, current_id=order[0], direction="next")
    assert str(nxt.pk) == order[2]  # the held one is passed over
    held = Upload.objects.get(pk=order[1])
    assert held.claimed_by == second_moderator
    queue_step(moderator=moderator, current_id=order[1], direction="next")  # not theirs to release
    held.refresh_from_db()
    assert held.claimed_by == second_moderator


def test_a_step_refuses_an_unknown_direction(moderator):
    [upload] = uploads_in_review(1)
    with pytest.raises(InvalidInput):
        queue_step(moderator=moderator, current_id=upload.pk, direction="sideways")


def test_after_a_decision_the_page_opens_the_item_after_it(client, moderator):
    order = _in_queue_order(uploads_in_review(3))
    client.force_login(moderator)
    client.get(f"/review/{order[1]}/")
    response = client.post(f"/review/{order[1]}/", {"verdict": "approve"}, follow=True)
    assert response.redirect_chain[-1][0] == f"/review/{order[2]}/"
    assert "approved" in response.content.decode() and "approved." in response.content.decode()


def test_j_and_k_links_on_the_page_step_through_the_queue(client, moderator):
    order = _in_queue_order(uploads_in_review(3))
    client.force_login(moderator)
    response = client.get(f"/review/next/?after={order[0]}")
    assert response.url == f"/review/{order[1]}/"
    response = client.get(f"/review/next/?before={order[1]}")
    assert response.url == f"/review/{order[0]}/"
    response = client.get(f"/review/next/?before={order[0]}", follow=True)
    assert response.redirect_chain[-1][0] == f"/review/{order[0]}/"
    assert "first item" in response.content.decode()
    page = client.get(f"/review/{order[1]}/").content.decode()
    assert f'id="next-link" href="/review/next/?after={order[1]}"' in page
    assert f'id="previous-link" href="/review/next/?before={order[1]}"' in page


# --- every class has a key; a reject says which reason it records -----------


def test_every_class_has_its_own_key_none_taken_by_a_command():
    labels = [f"class {i}" for i in range(29)] + ["no product"]
    keys = [key for key, _ in label_keys(labels)]
    assert all(keys) and len(set(keys)) == 30
    assert not set(keys) & set("arjkvu?")
    assert dict(label_keys(labels))["n"] == "no product"
    fashion = dict((name, key) for key, name in label_keys(list(FASHION_MNIST_CLASSES)))
    assert fashion["Ankle boot"] == "0"
    # The whole vocabulary a moderator labels with: the seed's classes keep their keys.
    vocabulary = dict((name, key) for key, name in label_keys(review_labels()))
    assert vocabulary["Ankle boot"] == "0" and vocabulary["no product"] == "n" and vocabulary["Skirt"] == "b"


def test_the_page_shows_the_key_legend_for_every_class(client, moderator):
    [upload] = uploads_in_review(1)
    client.force_login(moderator)
    page = client.get(f"/review/{upload.pk}/").content.decode()
    for key, name in label_keys(list(FASHION_MNIST_CLASSES)):
        assert f'data-key="{key}" data-label="{name}"><kbd>{key}</kbd> {name}</button>' in page


def test_a_reject_without_a_reason_says_the_default_it_recorded(client, moderator):
    [upload] = uploads_in_review(1)
    client.force_login(moderator)
    page = client.get(f"/review/{upload.pk}/").content.decode()
    assert "none chosen: records “Other”" in page  # said before, on the form
    response = client.post(f"/review/{upload.pk}/", {"verdict": "reject"}, follow=True)
    text = response.content.decode()
    assert "rejected (reason recorded: Other, the default: no reason was chosen)" in text
    assert "rejectd" not in text
    assert Decision.objects.get(upload=upload).reason_code == RejectReason.OTHER


def test_a_reject_with_a_reason_records_and_says_it(client, moderator):
    [upload] = uploads_in_review(1)
    client.force_login(moderator)
    response = client.post(f"/review/{upload.pk}/", {"verdict": "reject", "reason_code": "spam"}, follow=True)
    assert "reason recorded: Spam or scam" in response.content.decode()
    assert Decision.objects.get(upload=upload).reason_code == "spam"


# --- bulk ---------------------------------------------------------------------


def test_an_empty_bulk_decision_is_an_error_in_the_service(moderator):
    with pytest.raises(InvalidInput) as caught:
        review_decide_bulk(upload_ids=[], moderator=moderator, verdict="approve")
    assert caught.value.code == "nothing_selected"


def test_an_empty_bulk_submit_says_so_and_decides_nothing(client, moderator):
    uploads_in_review(2)
    client.force_login(moderator)
    response = client.post("/review/grid/", {"verdict": "approve"}, follow=True)
    text = response.content.decode()
    assert "No items were selected" in text and "0 items" not in text
    assert not Decision.objects.exists()


def test_a_bulk_rejection_is_confirmed_first_with_its_reason(client, moderator):
    uploads = uploads_in_review(2)
    ids = [str(u.pk) for u in uploads]
    client.force_login(moderator)
    confirm = client.post("/review/grid/", {"verdict": "reject", "selected": ids})
    assert confirm.status_code == 200 and "Reject 2 items?" in confirm.content.decode()
    assert not Decision.objects.exists()  # nothing decided before the confirmation
    done = client.post(
        "/review/grid/",
        {"verdict": "reject", "selected": ids, "confirmed": "yes", "reason_code": "spam"},
        follow=True,
    )
    assert "2 items rejected." in done.content.decode()
    assert sorted(Decision.objects.values_list("reason_code", flat=True)) == ["spam", "spam"]


def test_bulk_approval_needs_no_confirmation_and_spells_its_verdict(client, moderator):
    uploads = uploads_in_review(2)
    client.force_login(moderator)
    done = client.post("/review/grid/", {"verdict": "approve", "selected": [str(u.pk) for u in uploads]}, follow=True)
    assert "2 items approved." in done.content.decode()


def test_the_bulk_service_refuses_an_unknown_reason(moderator):
    [upload] = uploads_in_review(1)
    with pytest.raises(InvalidInput):
        review_decide_bulk(upload_ids=[str(upload.pk)], moderator=moderator, verdict="reject", reason_code="nope")


# --- hash matches, heat map scale, QA context ---------------------------------


def test_a_hash_match_reads_as_bits_and_bank(client, moderator):
    [upload] = uploads_in_review(1)
    bank = HashBank.objects.create(name="test-bank")
    Flag.objects.create(
        upload=upload,
        kind=FlagKind.HASH_MATCH,
        category=bank.name,
        score=0.0,
        action="review",
        reason="matches",
        detail={"bank_id": bank.pk, "entry_id": 7},
    )
    client.force_login(moderator)
    queue = client.get("/review/").content.decode()
    assert "test-bank 0.00" not in queue
    assert "bank “test-bank”, 0 bits apart" in queue
    detail = client.get(f"/review/{upload.pk}/").content.decode()
    assert "matches bank “test-bank” at a distance of 0 bits of 256 (entry #7)" in detail


def test_the_heat_map_has_a_scale(client, moderator):
    [upload] = uploads_in_review(1)
    client.force_login(moderator)
    page = client.get(f"/review/{upload.pk}/").content.decode()
    assert 'class="heat-scale"' in page and "0 · covering it changes nothing" in page


def test_qa_cards_show_verdict_who_and_when(client, moderator, second_moderator):
    [upload] = uploads_in_review(1)
    review_decide(upload_id=upload.pk, moderator=moderator, verdict="reject", reason_code="spam")
    QAItem.objects.create(upload=upload, kind=QAKind.SECOND, reference_verdict="reject", reference_moderator=moderator)
    client.force_login(second_moderator)
    page = client.get("/review/qa/").content.decode()
    assert "<dt>Decided by</dt><dd>mod1</dd>" in page
    assert re.search(r'<dt>Verdict</dt><dd><span class="badge bad">reject</span>', page)
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT', page)
    assert f'src="/uploads/{upload.pk}/image"' in page


# --- lead pages -------------------------------------------------------------


def test_rates_print_as_percentages():
    assert percent(0.656) == "65.6 %"
    assert percent(None) == "—"
    assert percent(1, 0) == "100 %"


def test_audit_rows_read_as_key_values_with_linked_targets_and_times(client, lead, moderator):
    [upload] = uploads_in_review(1)
    audit_record(
        actor=moderator,
        action=AuditAction.REVIEW_DECIDED,
        target=upload,
        data={"verdict": "reject", "fields": {"approve_threshold": "0.9"}, "removed": [1, 2], "entry": None},
    )
    assert details({"fields": {"a": 1}, "list": [1, 2], "none": None}) == [
        ("fields › a", "1"),
        ("list", "1, 2"),
        ("none", "—"),
    ]
    client.force_login(lead)
    page = client.get("/lead/audit/").content.decode()
    assert "{'verdict'" not in page
    assert "<dt>verdict</dt><dd>reject</dd>" in page and "<dt>fields › approve threshold</dt><dd>0.9</dd>" in page
    assert f'<a href="/review/{upload.pk}/">' in page
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT[^"]+"', page)
    assert 'type="datetime-local"' in page  # the search dates are date pickers, not free text


def test_the_audit_search_takes_a_date_picker_value(client, lead, moderator):
    [upload] = uploads_in_review(1)
    audit_record(actor=moderator, action=AuditAction.REVIEW_DECIDED, target=upload, data={"n": 1})
    client.force_login(lead)
    since = (timezone.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    page = client.get("/lead/audit/", {"since": since}).content.decode()
    assert "Nothing found." in page


def test_the_metrics_page_prints_percentages(client, lead):
    client.force_login(lead)
    page = client.get("/lead/metrics/").content.decode()
    assert re.search(r'id="rate-approve">approve (—|\d+\.\d %)</span>', page)
    assert 'class="chart-box"' in page


@pytest.fixture
def superuser_client(client):
    user = User.objects.create_superuser("root", "root@example.com", "root-pass-1")
    client.force_login(user)
    return client


def test_banked_hashes_is_spelled_right(superuser_client):
    page = superuser_client.get("/admin/").content.decode()
    assert "Banked hashes" in page and "Banked hashs" not in page


def test_the_version_page_fills_its_per_class_table(superuser_client):
    per_class = {
        name: {"precision": 0.5 + i / 100, "recall": 0.25, "f1": 0.125, "support": 100 + i}
        for i, name in enumerate(FASHION_MNIST_CLASSES)
    }
    version = ModelVersionFactory(metrics={"accuracy": 0.9, "macro_f1": 0.8, "support": 1000, "per_class": per_class})
    page = superuser_client.get(f"/admin/classifier/modelversion/{version.pk}/change/").content.decode()
    assert '<table class="per-class">' in page
    assert '<td>Ankle boot</td><td class="num">0.590</td><td class="num">0.250</td>' in page


def test_read_only_admin_pages_offer_no_save(superuser_client):
    [upload] = uploads_in_review(1)
    version = ModelVersionFactory()
    for url in (
        f"/admin/moderation/upload/{upload.pk}/change/",
        f"/admin/classifier/modelversion/{version.pk}/change/",
    ):
        page = superuser_client.get(url).content.decode()
        assert 'name="_save"' not in page and 'name="_continue"' not in page, url


def test_the_active_model_version_cannot_be_deleted(superuser_client):
    active = ModelVersionFactory(status=ModelVersionStatus.ACTIVE)
    retired = ModelVersionFactory()
    page = superuser_client.get(f"/admin/classifier/modelversion/{active.pk}/change/").content.decode()
    assert "deletelink" not in page
    assert superuser_client.get(f"/admin/classifier/modelversion/{active.pk}/delete/").status_code == 403
    with pytest.raises(RegistryError):
        model_version_delete(version=active)
    # The bulk action refuses a selection holding it; a retired one goes.
    changelist = "/admin/classifier/modelversion/"
    superuser_client.post(
        changelist, {"action": "delete_selected", "_selected_action": [active.pk, retired.pk], "post": "yes"}
    )
    assert ModelVersion.objects.filter(pk__in=[active.pk, retired.pk]).count() == 2
    superuser_client.post(changelist, {"action": "delete_selected", "_selected_action": [retired.pk], "post": "yes"})
    assert list(ModelVersion.objects.filter(pk__in=[active.pk, retired.pk])) == [active]
    model_version_delete(version=ModelVersionFactory())  # the registry deletes a version not in service


# --- hash banks: from a file, lists in and out --------------------------------


def test_lists_are_read_in_every_exchange_format():
    assert bank_hashes_parse(f"{HASH_A}\n\n# comment\n{HASH_B}\n").hashes == [HASH_A, HASH_B]
    te = bank_hashes_parse(f"pdq {HASH_A}\nmd5 0cc175b9c0f1b6a831c399e269772661\npdq {HASH_B}\n")
    assert (te.hashes, te.skipped, te.format) == ([HASH_A, HASH_B], 1, "threatexchange")
    te_csv = bank_hashes_parse(
        "collab,signal_type,signal_str,category,tags\n"
        f"Sample,pdq,{HASH_A},POSITIVE_CLASS,\nSample,video_md5,abc,POSITIVE_CLASS,\n"
    )
    assert (te_csv.hashes, te_csv.skipped, te_csv.format) == ([HASH_A], 1, "threatexchange-csv")
    ours = bank_hashes_parse(f"\ufeffpdq_hash,bank,note\n{HASH_B},x,y\n")
    assert (ours.hashes, ours.format) == ([HASH_B], "csv")


def test_import_is_lead_only_all_or_nothing_and_audited(lead, moderator):
    bank = HashBank.objects.create(name="test-bank")
    with pytest.raises(Forbidden):
        bank_file_import(bank_id=bank.pk, actor=moderator, text=HASH_A)
    with pytest.raises(InvalidInput):
        bank_file_import(bank_id=bank.pk, actor=lead, text=f"pdq {HASH_A}\npdq not-a-hash\n")
    assert not BankedHash.objects.exists()
    outcome = bank_file_import(bank_id=bank.pk, actor=lead, text=f"pdq {HASH_A}\npdq {HASH_B}\n")
    assert (outcome.added, outcome.submitted) == (2, 2)
    again = bank_file_import(bank_id=bank.pk, actor=lead, text=f"{HASH_A}\n{HASH_C}\n")
    assert (again.added, again.submitted) == (1, 2)
    assert sorted(bank.entries.values_list("pdq_hash", flat=True)) == sorted([HASH_A, HASH_B, HASH_C])


def test_exports_in_each_format_import_back_the_same_list(lead):
    source = HashBank.objects.create(name="known bad/2026")
    bank_file_import(bank_id=source.pk, actor=lead, text=f"{HASH_A}\n{HASH_B}\n{HASH_C}\n")
    expected = sorted([HASH_A, HASH_B, HASH_C])
    for fmt in ("csv", "threatexchange", "threatexchange-csv"):
        filename, content_type, lines = bank_export(bank_id=source.pk, actor=lead, fmt=fmt)
        text = "".join(lines)
        assert (
            filename
            == {
                "csv": "known-bad-2026.csv",  # not .csv.csv
                "threatexchange": "known-bad-2026-threatexchange.txt",
                "threatexchange-csv": "known-bad-2026-threatexchange-csv.csv",
            }[fmt]
        )
        target = HashBank.objects.create(name=f"copy {fmt}")
        outcome = bank_file_import(bank_id=target.pk, actor=lead, text=text)
        assert outcome.format == fmt
        assert sorted(target.entries.values_list("pdq_hash", flat=True)) == expected, fmt
    te_lines = "".join(bank_export_lines(source, "threatexchange")).splitlines()
    assert sorted(te_lines) == [f"pdq {h}" for h in expected]
    rows = list(csv.DictReader(io.StringIO("".join(bank_export_lines(source, "threatexchange-csv")))))
    assert {(r["collab"], r["signal_type"], r["category"]) for r in rows} == {
        ("known bad/2026", "pdq", "POSITIVE_CLASS")
    }


def test_export_is_for_leads_and_knows_its_formats(lead, moderator):
    bank = HashBank.objects.create(name="test-bank")
    with pytest.raises(Forbidden):
        bank_export(bank_id=bank.pk, actor=moderator, fmt="csv")
    with pytest.raises(InvalidInput):
        bank_export(bank_id=bank.pk, actor=lead, fmt="xml")


def test_a_files_hash_is_the_hash_its_upload_gets(lead, moderator):
    bank = HashBank.objects.create(name="test-bank")
    data = skimage_jpeg("coffee")
    with pytest.raises(Forbidden):
        bank_hash_add_from_file(bank_id=bank.pk, actor=moderator, data=data)
    outcome = bank_hash_add_from_file(bank_id=bank.pk, actor=lead, data=data, note="from a partner")
    assert outcome.pdq_hash == image_pdq_hash(data)[0]
    assert bank.entries.get().pdq_hash == outcome.pdq_hash
    with pytest.raises(Exception) as again:
        bank_hash_add_from_file(bank_id=bank.pk, actor=lead, data=data)
    assert getattr(again.value, "code", "") == "already_banked"
    with pytest.raises(ApplicationError):
        bank_hash_add_from_file(bank_id=bank.pk, actor=lead, data=b"not an image at all")
    # A flat little picture's hash would match unrelated images.
    with pytest.raises(InvalidInput) as low:
        bank_hash_add_from_file(bank_id=bank.pk, actor=lead, data=_png(3))
    assert low.value.code == "low_quality_hash"
    assert bank.entries.count() == 1


def test_bank_pages_for_leads_only(client, lead, moderator):
    bank = HashBank.objects.create(name="test-bank")
    client.force_login(moderator)
    assert client.get("/lead/banks/").status_code in (302, 403)
    assert client.get(f"/lead/banks/{bank.pk}/export?format=csv").status_code in (302, 403)
    client.force_login(lead)
    assert "test-bank" in client.get("/lead/banks/").content.decode()
    response = client.post(
        f"/lead/banks/{bank.pk}/",
        {"action": "import", "import-file": SimpleUploadedFile("list.txt", f"pdq {HASH_A}\n".encode())},
        follow=True,
    )
    assert "Imported 1 new hashes" in response.content.decode()
    response = client.post(
        f"/lead/banks/{bank.pk}/",
        {
            "action": "add-file",
            "file-image": SimpleUploadedFile("x.jpg", skimage_jpeg("astronaut"), content_type="image/jpeg"),
        },
        follow=True,
    )
    assert "Added PDQ hash" in response.content.decode()
    response = client.post(f"/lead/banks/{bank.pk}/", {"action": "import"}, follow=True)
    assert "Choose a list file or paste hashes." in response.content.decode()
    export = client.get(f"/lead/banks/{bank.pk}/export?format=threatexchange")
    assert export["Content-Disposition"] == 'attachment; filename="test-bank-threatexchange.txt"'
    assert f"pdq {HASH_A}\n" in b"".join(export.streaming_content).decode()
    assert bank.entries.count() == 2


def test_record_only_admin_pages_are_view_only(rf):
    from django.contrib import admin

    from classifier.models import TrainingRun
    from moderation.models import WebhookDelivery, WebhookEndpoint

    request = rf.get("/admin/")
    request.user = User.objects.create_superuser("root2", "root2@example.com", "root-pass-2")
    for model in (Upload, ModelVersion, TrainingRun, WebhookDelivery, WebhookEndpoint):
        model_admin = admin.site._registry[model]
        assert not model_admin.has_change_permission(request), model.__name__
        assert model_admin.has_view_permission(request), model.__name__


def test_the_bank_commands_read_and_write_the_exchange_formats(tmp_path):
    from django.core.management import call_command

    bank = HashBank.objects.create(name="cli-bank")
    listing = tmp_path / "signals.txt"
    listing.write_text(f"pdq {HASH_A}\npdq {HASH_B}\nmd5 0cc175b9c0f1b6a831c399e269772661\n")
    out = io.StringIO()
    call_command("bank_import", "cli-bank", str(listing), stdout=out)
    assert "2 new entries" in out.getvalue() and "1 of other signal types skipped" in out.getvalue()
    exported = io.StringIO()
    call_command("bank_export", "cli-bank", "--format", "threatexchange", stdout=exported, stderr=io.StringIO())
    assert sorted(exported.getvalue().splitlines()) == sorted([f"pdq {HASH_A}", f"pdq {HASH_B}"])
    assert bank.entries.count() == 2


def test_an_export_is_audited_with_its_format(lead):
    """A list of hashes leaving the platform is an act like any other."""
    bank = HashBank.objects.create(name="exported-bank")
    bank_export(bank_id=bank.pk, actor=lead, fmt="threatexchange")
    event = AuditEvent.objects.get(action=AuditAction.BANK_EXPORTED)
    assert (event.actor, event.target_id, event.data) == (lead, str(bank.pk), {"format": "threatexchange"})


def test_the_import_command_refuses_a_csv_row_without_a_hash_as_the_page_does(tmp_path):
    from django.core.management import CommandError, call_command

    HashBank.objects.create(name="cli-bank")
    listing = tmp_path / "list.csv"
    listing.write_text(f"pdq_hash,note\n{HASH_A},fine\n,no hash here\n")
    with pytest.raises(CommandError, match="no hash"):
        call_command("bank_import", "cli-bank", str(listing), stdout=io.StringIO())
    assert not BankedHash.objects.exists()

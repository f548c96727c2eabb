"""The review and lead pages of issue 17 in Debian's Chromium, at 1440x900
and 390x844: J/K walk the queue (K is not browser history) and a skip
releases its claim; every class has a key; R without a reason stops once to
say the default; Approve and Reject are above the fold; the queue fits a
phone; an empty bulk submit is an error and a bulk reject is confirmed; a
bank list is imported and exported through the page. No trained model is
needed: the uploads carry frozen analyses. Screenshots land in
test-artifacts/."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from moderation.models import BankedHash, Decision, HashBank, RejectReason, Upload
from tests.conftest import ARTIFACTS
from tests.factories import uploads_in_review
from tests.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

DESK = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
HASH = "0123456789abcdef" * 4


@pytest.fixture
def open_page(browser, request):
    """open_page(viewport) -> a fresh page of that size; a screenshot of each kept."""
    contexts = []

    def make(viewport: dict):
        context = browser.new_context(viewport=viewport)
        contexts.append((context, viewport))
        page = context.new_page()
        page.set_default_timeout(20_000)
        return page

    yield make
    ARTIFACTS.mkdir(exist_ok=True)
    for context, viewport in contexts:
        for i, page in enumerate(context.pages):
            page.screenshot(
                path=str(ARTIFACTS / f"{request.node.name}-{viewport['width']}x{viewport['height']}-{i}.png"),
                full_page=True,
            )
        context.close()


def _ordered(uploads) -> list[str]:
    ids = [u.pk for u in uploads]
    return [
        str(pk) for pk in Upload.objects.filter(pk__in=ids).order_by("-review_rank", "id").values_list("pk", flat=True)
    ]


def _current(page) -> str:
    return page.url.rstrip("/").rsplit("/", 1)[-1]


def _no_horizontal_overflow(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_j_and_k_walk_the_queue_and_skips_release_their_claims(open_page, live_server, moderator):
    order = _ordered(uploads_in_review(3))
    page = open_page(DESK)
    sign_in(page, live_server.url, "mod1", "mod-pass-123")
    page.wait_for_url("**/review/")
    page.click("#start")
    page.wait_for_url(f"**/review/{order[0]}/")
    # Approve and Reject are above the fold at 1440x900.
    for button in ("#approve", "#reject"):
        box = page.locator(button).bounding_box()
        assert box is not None and box["y"] + box["height"] <= DESK["height"], button
    page.keyboard.press("j")
    page.wait_for_url(f"**/review/{order[1]}/")
    assert Upload.objects.get(pk=order[0]).claimed_by_id is None  # released at once
    page.keyboard.press("j")
    page.wait_for_url(f"**/review/{order[2]}/")
    page.keyboard.press("j")  # past the end: the top again, not a ping-pong between two
    page.wait_for_url(f"**/review/{order[0]}/")
    # K is the previous item in the queue, not browser history: opened from
    # the queue page, the last item goes back to the one before it.
    page.goto(f"{live_server.url}/review/")
    page.goto(f"{live_server.url}/review/{order[2]}/")
    page.keyboard.press("k")
    page.wait_for_url(f"**/review/{order[1]}/")
    assert Upload.objects.get(pk=order[2]).claimed_by_id is None


def test_every_class_has_a_key_and_a_reject_names_its_reason(open_page, live_server, moderator):
    order = _ordered(uploads_in_review(2))
    page = open_page(DESK)
    sign_in(page, live_server.url, "mod1", "mod-pass-123")
    page.goto(f"{live_server.url}/review/{order[0]}/")
    assert page.is_visible("#label-keys >> text=Ankle boot")
    page.keyboard.press("0")
    assert page.input_value("select[name=label]") == "Ankle boot"
    assert page.get_attribute(".label-key[data-label='Ankle boot']", "aria-pressed") == "true"
    page.keyboard.press("r")
    assert page.is_visible("#reason-notice")  # stopped once, saying the default
    assert _current(page) == order[0] and not Decision.objects.exists()
    page.keyboard.press("r")
    page.wait_for_url(f"**/review/{order[1]}/")
    decision = Decision.objects.get(upload_id=order[0])
    assert decision.reason_code == RejectReason.OTHER
    assert "no reason was chosen" in page.inner_text(".messages")
    # With a reason chosen, R rejects at once.
    page.select_option("select[name=reason_code]", "spam")
    page.locator("h1").click()  # keys act outside the select
    page.keyboard.press("r")
    page.wait_for_function(f"!window.location.pathname.includes('{order[1]}')")
    assert Decision.objects.get(upload_id=order[1]).reason_code == "spam"


def test_the_queue_and_an_item_fit_a_phone(open_page, live_server, moderator):
    order = _ordered(uploads_in_review(3))
    page = open_page(PHONE)
    sign_in(page, live_server.url, "mod1", "mod-pass-123")
    page.wait_for_url("**/review/")
    assert _no_horizontal_overflow(page)
    page.goto(f"{live_server.url}/review/{order[0]}/")
    assert _no_horizontal_overflow(page)
    assert page.is_visible("#approve") and page.is_visible("#reject")


@pytest.mark.parametrize("viewport", [DESK, PHONE], ids=["1440x900", "390x844"])
def test_bulk_refuses_an_empty_submit_and_confirms_a_reject(open_page, live_server, moderator, viewport):
    uploads_in_review(2)
    page = open_page(viewport)
    sign_in(page, live_server.url, "mod1", "mod-pass-123")
    page.goto(f"{live_server.url}/review/grid/")
    assert _no_horizontal_overflow(page)
    box = page.locator("#bulk input[name=selected]").first.bounding_box()
    assert box is not None and box["width"] < 40  # an ordinary checkbox, not a full-width bar
    page.click("button[value=approve]")
    assert "No items were selected" in page.inner_text(".messages")
    assert not Decision.objects.exists()
    page.check("#select-all")
    page.click("button[value=reject]")
    page.wait_for_selector("#bulk-confirm")
    assert not Decision.objects.exists()  # asked first
    page.select_option("#bulk-reason", "spam")
    page.click("#confirm-reject")
    page.wait_for_url("**/review/grid/")
    assert "2 items rejected." in page.inner_text(".messages")
    assert sorted(Decision.objects.values_list("reason_code", flat=True)) == ["spam", "spam"]


def test_a_lead_imports_and_exports_a_bank_list(open_page, live_server, tmp_path):
    from moderation.setup import ensure_roles_and_schedules

    ensure_roles_and_schedules()
    lead = User.objects.create_user("lead", password="lead-pass-123")
    lead.groups.add(Group.objects.get(name="leads"))
    bank = HashBank.objects.create(name="browser-bank")
    listing = tmp_path / "list.txt"
    listing.write_text(f"pdq {HASH}\n")
    page = open_page(DESK)
    sign_in(page, live_server.url, "lead", "lead-pass-123")
    page.goto(f"{live_server.url}/lead/banks/")
    page.click("text=browser-bank")
    page.set_input_files("#id_import-file", str(listing))
    page.click("#import-list button[type=submit]")
    assert "Imported 1 new hashes" in page.inner_text(".messages")
    assert BankedHash.objects.filter(bank=bank, pdq_hash=HASH).exists()
    with page.expect_download() as download:
        page.click("text=ThreatExchange signal file")
    saved = tmp_path / "export.txt"
    download.value.save_as(saved)
    assert saved.read_text() == f"pdq {HASH}\n"


@pytest.mark.parametrize("viewport", [DESK, PHONE], ids=["1440x900", "390x844"])
def test_lead_and_qa_pages_fit_both_sizes(open_page, live_server, moderator, viewport):
    from moderation.models import AuditAction, QAItem, QAKind
    from moderation.services.audit import audit_record
    from moderation.setup import ensure_roles_and_schedules

    ensure_roles_and_schedules()
    uploads = uploads_in_review(2)
    QAItem.objects.create(upload=uploads[1], kind=QAKind.BLIND, reference_verdict="approve")
    audit_record(
        actor=moderator, action=AuditAction.REVIEW_DECIDED, target=uploads[0], data={"verdict": "reject", "n": 1}
    )
    bank = HashBank.objects.create(name="fit-bank")
    lead = User.objects.create_user("lead", password="lead-pass-123")
    lead.groups.add(Group.objects.get(name="leads"))
    page = open_page(viewport)
    sign_in(page, live_server.url, "lead", "lead-pass-123")
    page.wait_for_url("**/")
    for url in ("/review/qa/", "/lead/metrics/", "/lead/audit/", "/lead/banks/", f"/lead/banks/{bank.pk}/"):
        page.goto(f"{live_server.url}{url}")
        assert _no_horizontal_overflow(page), url
    page.goto(f"{live_server.url}/lead/audit/")
    assert page.is_visible("dl.audit-details >> text=verdict")
    assert page.get_attribute("table.audit time", "datetime")


def test_the_bulk_grid_serves_flagged_items_by_reason(open_page, live_server, moderator):
    """Items reach review through flags: the grid shows them, and one reason's
    items are picked from the filter and approved together."""
    from moderation.models import Flag

    uploads = uploads_in_review(3)
    for upload in uploads[:2]:
        Flag.objects.create(upload=upload, kind="adult", category="adult content", score=0.4, reason="test")
    Flag.objects.create(upload=uploads[2], kind="prohibited_goods", category="weapons", score=0.3, reason="test")
    page = open_page(DESK)
    sign_in(page, live_server.url, "mod1", "mod-pass-123")
    page.goto(f"{live_server.url}/review/grid/")
    assert page.locator("#bulk input[name=selected]").count() == 3
    page.select_option("#grid-reason", "adult:adult content")
    page.click("#grid-filter button")
    page.wait_for_url(lambda url: "reason=adult" in url)
    assert page.locator("#bulk input[name=selected]").count() == 2
    page.check("#select-all")
    page.click("button[value=approve]")
    assert "2 items approved." in page.inner_text(".messages")
    assert set(Upload.objects.filter(status="approved").values_list("pk", flat=True)) == {u.pk for u in uploads[:2]}
    # That reason has no items left: the grid shows every reason again, and says so.
    assert page.input_value("#grid-reason") == ""
    assert page.get_attribute("#bulk input[name=selected]", "value") == str(uploads[2].pk)


def test_u_undoes_the_last_decision_and_it_is_decided_again(open_page, live_server, moderator):
    order = _ordered(uploads_in_review(2))
    page = open_page(DESK)
    sign_in(page, live_server.url, "mod1", "mod-pass-123")
    page.goto(f"{live_server.url}/review/{order[0]}/")
    page.keyboard.press("r")
    page.keyboard.press("4")
    page.wait_for_url(f"**/review/{order[1]}/")
    assert page.is_visible("#undo >> text=rejected (Spam or scam)")
    for button in ("#approve", "#reject"):  # the undo line keeps them above the fold
        box = page.locator(button).bounding_box()
        assert box is not None and box["y"] + box["height"] <= DESK["height"], button
    page.keyboard.press("u")
    page.wait_for_url(f"**/review/{order[0]}/")
    assert "back in review" in page.inner_text(".messages")
    assert Upload.objects.get(pk=order[0]).status == "in_review"
    page.keyboard.press("a")  # revised: approved this time
    page.wait_for_url(f"**/review/{order[1]}/")
    assert Upload.objects.get(pk=order[0]).status == "approved"
    decisions = {d.verdict: d for d in Decision.objects.filter(upload_id=order[0])}
    assert decisions["reject"].undone_at is not None and decisions["approve"].undone_at is None


def test_the_open_page_renews_its_claim_and_another_moderator_takes_over_an_abandoned_one(
    open_page, live_server, moderator, second_moderator, settings
):
    from datetime import timedelta

    from django.utils import timezone

    settings.REVIEW_HEARTBEAT_SECONDS = 1
    [upload] = uploads_in_review(1)
    page = open_page(DESK)
    sign_in(page, live_server.url, "mod1", "mod-pass-123")
    page.goto(f"{live_server.url}/review/{upload.pk}/")
    first = Upload.objects.get(pk=upload.pk).claimed_until
    # In use: the heartbeat renews the claim (polled, no timing asserted).
    for step in range(40):
        page.mouse.move(10 + step, 10)
        page.wait_for_timeout(250)
        if Upload.objects.get(pk=upload.pk).claimed_until > first:
            break
    assert Upload.objects.get(pk=upload.pk).claimed_until > first

    other = open_page(DESK)
    sign_in(other, live_server.url, "mod2", "mod-pass-456")
    other.goto(f"{live_server.url}/review/{upload.pk}/")
    assert "mod1 is reviewing this item" in other.inner_text("#claim-error")
    other.click("#take-over")
    other.wait_for_function("document.getElementById('take-over-status').textContent.length > 0")
    assert "mod1 is reviewing" in other.inner_text("#take-over-status")
    page.close()  # abandoned: its claim lapses
    Upload.objects.filter(pk=upload.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    other.click("#take-over")
    other.wait_for_selector("#claim-error", state="detached")
    assert Upload.objects.get(pk=upload.pk).claimed_by == second_moderator


def test_why_and_caption_are_above_the_fold_frames_enlarge_and_the_image_pauses(open_page, live_server, moderator):
    from moderation.models import UploadFrame
    from tests.helpers import encode, photo_like

    [upload] = uploads_in_review(1, caption="Blue denim jacket, worn twice")
    Upload.objects.filter(pk=upload.pk).update(frame_count=2)
    for index in (0, 1):
        UploadFrame.objects.create(
            upload=upload,
            index=index,
            timestamp_ms=index * 100,
            duration_ms=100,
            verdict="review",
            worst=index == 0,
            thumbnail=encode(photo_like(192, 128, seed=index), "JPEG"),
        )
    page = open_page(DESK)
    sign_in(page, live_server.url, "mod1", "mod-pass-123")
    page.goto(f"{live_server.url}/review/{upload.pk}/")
    for selector in ("#why h2", "#why .caption", "#approve", "#reject"):
        box = page.locator(selector).bounding_box()
        assert box is not None and box["y"] + box["height"] <= DESK["height"], selector
    assert "Blue denim jacket, worn twice" in page.inner_text("#why .caption")

    page.click(".frame-open >> nth=1")
    assert page.is_visible("#frame-view")
    box = page.locator("#frame-view-image").bounding_box()
    assert box is not None and box["width"] > 192  # larger than the strip's thumbnail
    page.keyboard.press("Escape")
    assert not page.is_visible("#frame-view")
    assert not Decision.objects.exists()  # the dialog's keys decide nothing

    page.click("#pause")
    assert page.is_visible("#subject-still") and page.is_hidden("#subject-image")
    assert page.get_attribute("#pause", "aria-pressed") == "true"
    assert page.evaluate("document.getElementById('subject-still').width") > 0
    page.click("#pause")
    assert page.is_visible("#subject-image") and page.is_hidden("#subject-still")

"""The moderator's day in Debian's Chromium: sign in, claim, decide with the
keyboard, the next item opens; reveal a blurred item; a second moderator
decides an appeal; the metrics page draws its charts. Screenshots of each step
land in test-artifacts/."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from moderation.models import Appeal, Decision, Flag, Upload, UploadStatus
from moderation.services.review import review_decide
from moderation.services.uploads import upload_classify, upload_create
from tests.factories import policy_approves_nothing
from tests.helpers import fashion_png, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _queue(n, author):
    uploads = [upload_create(data=fashion_png(i)[0], filename=f"{i}.png", uploader=author) for i in range(n)]
    for upload in uploads:
        upload_classify(upload_id=upload.pk)
    return uploads


@pytest.fixture
def author(db):
    return get_user_model().objects.create_user("author", password="author-pass-1")


def test_claim_and_decide_with_the_keyboard(page, shot, live_server, active_model, moderator, author):
    policy_approves_nothing()
    uploads = _queue(3, author)
    assert all(Upload.objects.get(pk=u.pk).status == UploadStatus.IN_REVIEW for u in uploads)
    sign_in(page, live_server.url, "mod1", "mod-pass-123")
    page.wait_for_url("**/review/")
    shot("queue")
    page.click("#start")
    page.wait_for_url("**/review/*-*/")
    first_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    assert Upload.objects.get(pk=first_id).claimed_by == moderator
    page.keyboard.press("?")
    assert page.is_visible("#keys-help")
    shot("keys-help")
    page.keyboard.press("Escape")
    page.keyboard.press("3")  # third label
    assert page.input_value("select[name=label]") == active_model.class_names[2]
    shot("label-picked")
    page.keyboard.press("a")
    page.wait_for_function(f"!window.location.pathname.includes('{first_id}')")
    page.wait_for_url("**/review/*-*/")
    shot("next-item-opened")
    decision = Decision.objects.get(upload_id=first_id)
    assert decision.verdict == "approve" and decision.label_after == active_model.class_names[2]
    second_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    assert second_id != first_id and Upload.objects.get(pk=second_id).claimed_by == moderator
    page.keyboard.press("r")
    assert page.is_visible("#reason-notice")  # no reason chosen: it says the default first
    page.keyboard.press("r")
    page.wait_for_function(f"!window.location.pathname.includes('{second_id}')")
    assert Decision.objects.get(upload_id=second_id).verdict == "reject"
    shot("after-reject")


def test_blurred_item_is_revealed(page, shot, live_server, active_model, moderator, author):
    [upload] = _queue(1, author)
    Upload.objects.filter(pk=upload.pk).update(status=UploadStatus.IN_REVIEW)
    Flag.objects.create(
        upload=upload, kind="adult", category="adult content", score=0.7, action="review", reason="test flag"
    )
    sign_in(page, live_server.url, "mod1", "mod-pass-123")
    page.goto(f"{live_server.url}/review/{upload.pk}/")
    assert "blurred" in page.get_attribute("#subject", "class")
    blurred_filter = page.eval_on_selector("#subject img", "img => getComputedStyle(img).filter")
    assert "blur" in blurred_filter
    shot("blurred")
    page.click("#reveal")
    assert "blurred" not in page.get_attribute("#subject", "class")
    assert page.eval_on_selector("#subject img", "img => getComputedStyle(img).filter") == "none"
    shot("revealed")


def test_appeal_is_decided_by_a_second_moderator(
    page, shot, live_server, active_model, moderator, second_moderator, author
):
    policy_approves_nothing()
    [upload] = _queue(1, author)
    review_decide(upload_id=upload.pk, moderator=moderator, verdict="reject", reason_code="spam")
    # The author appeals from "My posts".
    sign_in(page, live_server.url, "author", "author-pass-1")
    page.goto(f"{live_server.url}/posts/")
    page.fill(".appeal-form textarea[name=message]", "It is my own sneaker photo.")
    page.click(".appeal-form button")
    page.wait_for_selector("text=Appeal under review")
    shot("appealed")
    assert Appeal.objects.get(upload=upload).status == "open"
    # The moderator who rejected it is not offered it.
    page.context.clear_cookies()
    sign_in(page, live_server.url, "mod1", "mod-pass-123")
    page.goto(f"{live_server.url}/review/next/")
    page.wait_for_url("**/review/")
    assert "The queue is empty" in page.content()
    # A second moderator overturns it.
    page.context.clear_cookies()
    sign_in(page, live_server.url, "mod2", "mod-pass-456")
    page.click("#start")
    page.wait_for_url(f"**/review/{upload.pk}/")
    assert "It is my own sneaker photo." in page.inner_text(".appeal")
    shot("appeal-review")
    page.keyboard.press("a")
    page.wait_for_url("**/review/")
    appeal = Appeal.objects.get(upload=upload)
    assert appeal.status == "overturned" and appeal.decided_by == second_moderator
    # The author sees the outcome.
    page.context.clear_cookies()
    sign_in(page, live_server.url, "author", "author-pass-1")
    page.goto(f"{live_server.url}/posts/")
    assert "Published — rejection overturned on appeal" in page.inner_text("figure.post")
    shot("outcome-shown")


def test_metrics_page_draws_its_charts(page, shot, live_server, active_model, moderator, author):
    [upload] = _queue(1, author)
    Upload.objects.filter(pk=upload.pk).update(status=UploadStatus.IN_REVIEW)
    review_decide(upload_id=upload.pk, moderator=moderator, verdict="approve")
    lead = get_user_model().objects.create_user("lead", password="lead-pass-1")
    lead.groups.add(Group.objects.get(name="leads"))
    sign_in(page, live_server.url, "lead", "lead-pass-1")
    page.goto(f"{live_server.url}/lead/metrics/")
    page.wait_for_function("document.body.dataset.chartsRendered === '4'")
    # Each chart drew pixels on its canvas.
    painted = page.eval_on_selector_all(
        "canvas", "cs => cs.map(c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some(v => v !== 0))"
    )
    assert painted == [True, True, True, True]
    assert "mod1: 1" in page.inner_text("body")
    shot("metrics")

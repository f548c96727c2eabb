"""The pages, the way a person uses them: in Debian's Chromium."""

import pytest
from django.contrib.auth import get_user_model

from classifier.models import TrainingExample
from moderation.models import AuditEvent, ClassPolicy, Decision, Upload, UploadStatus
from moderation.services.uploads import upload_classify, upload_create
from tests.conftest import wait_for
from tests.factories import policy_approves_nothing
from tests.helpers import fashion_png, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_person_uploads_several_files_and_sees_verdicts_live(
    page, shot, live_server, celery_worker, active_model, tmp_path
):
    get_user_model().objects.create_user("alice", password="alice-pass-1")
    for name in active_model.class_names:
        ClassPolicy.objects.get_or_create(class_name=name)
    files = []
    for index in range(3):
        path = tmp_path / f"item-{index}.png"
        path.write_bytes(fashion_png(index)[0])
        files.append(str(path))
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"not an image at all")
    files.append(str(bad))

    sign_in(page, live_server.url, "alice", "alice-pass-1")
    page.wait_for_url("**/upload/")
    shot("upload-page")
    page.set_input_files("#files", files)
    page.wait_for_function("document.querySelectorAll('#picked li').length === 4")
    assert not Upload.objects.exists()  # nothing sent before Post
    # The file that is not an image is refused here, before Post; each image has its own caption.
    assert "The file is not an image" in page.inner_text("#picked li[data-refused=true]")
    for index in range(3):
        page.fill(f"#caption-{index}", f"new drop {index}")  # typed after picking: kept
    page.click("#post")
    page.wait_for_function(
        "document.querySelectorAll('#rows tbody tr').length === 3 && "
        "Array.from(document.querySelectorAll('#rows tbody tr')).every("
        "  s => ['approved', 'rejected', 'in_review'].includes(s.dataset.status))",
        timeout=60_000,
    )
    shot("verdicts")
    statuses = sorted(page.eval_on_selector_all("#rows tbody tr", "els => els.map(e => e.dataset.status)"))
    assert len(statuses) == 3 and "refused" not in statuses
    uploads = Upload.objects.filter(uploader__username="alice")
    assert uploads.count() == 3 and sorted(u.caption for u in uploads) == [f"new drop {i}" for i in range(3)]
    assert all(u.status in (UploadStatus.APPROVED, UploadStatus.IN_REVIEW, UploadStatus.REJECTED) for u in uploads)

    page.goto(f"{live_server.url}/posts/")
    shot("my-posts")
    assert page.locator("figure.post").count() == 3


def test_moderator_decides_on_the_review_page_and_the_next_item_opens(page, shot, live_server, active_model, moderator):
    ClassPolicy.objects.all().delete()
    policy_approves_nothing()
    author = get_user_model().objects.create_user("bob", password="bob-pass-1")
    uploads = [upload_create(data=fashion_png(i)[0], filename=f"{i}.png", uploader=author) for i in range(2)]
    for upload in uploads:
        upload_classify(upload_id=upload.pk)
    first, second = sorted(uploads, key=lambda u: u.created_at)

    sign_in(page, live_server.url, "mod1", "mod-pass-123")
    page.wait_for_url("**/review/")
    assert "2 waiting" in page.inner_text("h1")
    shot("queue")
    page.click(f"a[href='/review/{first.pk}/']")
    page.wait_for_url(f"**/review/{first.pk}/")
    assert "not checked: adult content" in page.inner_text(".side")  # only the product model runs here
    predicted = first.predictions.get().label
    corrected = next(name for name in active_model.class_names if name != predicted)
    page.select_option("select[name=label]", corrected)
    page.fill("textarea[name=note]", "it is a " + corrected)
    shot("before-decision")
    page.click("button[value=approve]")
    page.wait_for_url(f"**/review/{second.pk}/")
    shot("next-item")

    first.refresh_from_db()
    assert first.status == UploadStatus.APPROVED
    decision = Decision.objects.get(upload=first)
    assert (decision.label_before, decision.label_after, decision.note) == (
        predicted,
        corrected,
        "it is a " + corrected,
    )
    assert AuditEvent.objects.filter(action="review.decided", target_id=str(first.pk), actor=moderator).exists()
    assert wait_for(lambda: TrainingExample.objects.filter(reference=f"upload:{first.pk}", label=corrected).exists())

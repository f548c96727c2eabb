"""Done-when of issues 15 and 31, in Debian's Chromium with a real Celery
worker (uploads and the training queue): a lead creates a category, adds 20
examples from past uploads, the head trains on the worker, the lead answers
10 candidates with the keyboard, looks at the dry run and confirms the head
live, and a new upload of the same kind is flagged with the category's reason."""

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from classifier.ml.datasets import fashion_photo
from moderation.models import SETTLED_STATUSES, AuditAction, AuditEvent, CustomCategory, Flag, FlagKind, Upload
from moderation.services.uploads import upload_create
from tests.browser.checks import AXE, check_current_page, watch_console
from tests.conftest import start_process, stop_process, wait_for
from tests.helpers import _split, encode, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

BAG, OTHERS = 8, (0, 1, 5, 7)  # Fashion-MNIST: bags are the new category; shirts, trousers, sandals, sneakers are not


def _images(labels, count: int) -> list[bytes]:
    split = _split("test")
    picked = [i for i, label in enumerate(split.labels) if label in labels][:count]
    return [encode(fashion_photo(split.images[i], 112), "PNG") for i in picked]


@pytest.fixture
def worker_with_training_queue(transactional_db):
    proc = start_process("worker", queues=(settings.CELERY_TASK_DEFAULT_QUEUE, settings.CELERY_TRAINING_QUEUE))
    yield proc
    stop_process(proc)


def _settled(uploads) -> bool:
    return Upload.objects.filter(pk__in=[u.pk for u in uploads], status__in=SETTLED_STATUSES).count() == len(uploads)


def test_lead_teaches_a_category_and_a_new_upload_is_flagged(
    page, shot, live_server, photo_models, worker_with_training_queue
):
    """Issue 31's done-when: 20 examples, 10 confirmations answered with the
    keyboard, a dry run and the lead's confirmation; then the worker flags
    the next bag and not the next trousers."""
    author = get_user_model().objects.create_user("author", password="author-pass-1")
    lead = get_user_model().objects.create_user("lead", password="lead-pass-123")
    lead.groups.add(Group.objects.get(name="leads"))
    bags, others = _images({BAG}, 29), _images(set(OTHERS), 20)
    [new_trousers] = _images({1}, 30)[-1:]
    past_bags = [upload_create(data=data, filename=f"bag-{i}.png", uploader=author) for i, data in enumerate(bags[:28])]
    past_others = [
        upload_create(data=data, filename=f"other-{i}.png", uploader=author) for i, data in enumerate(others)
    ]
    assert wait_for(lambda: _settled(past_bags + past_others), timeout=240)
    examples, unlabelled_bags = past_bags[:20], {str(u.pk) for u in past_bags[20:]}

    sign_in(page, live_server.url, "lead", "lead-pass-123")
    page.wait_for_url("**/review/")
    page.goto(f"{live_server.url}/lead/categories/")
    page.fill("#category-create input[name=name]", "handbags")
    page.select_option("#category-create select[name=kind]", "review")
    page.fill("#category-create input[name=threshold]", "0.5")
    page.click("#category-create button[type=submit]")
    page.wait_for_url("**/lead/categories/handbags/")
    shot("created")
    page.click("#search-uploads")
    page.wait_for_url("**/handbags/search/")
    for upload in examples:
        page.check(f"label[data-upload='{upload.pk}'] input[name=selected]")
    shot("examples-picked")
    page.click("#add-positive")
    page.wait_for_selector("text=Added 20 positive examples")
    category = CustomCategory.objects.get(name="handbags")
    assert category.examples.filter(positive=True).count() == 20

    # The first head trains on the worker's training queue, a moment after the last change.
    assert wait_for(lambda: CustomCategory.objects.get(pk=category.pk).active_head_id, timeout=120)
    page.goto(f"{live_server.url}/lead/categories/handbags/")
    assert page.inner_text("#active-head") == "v1" and page.inner_text("#live-head") == "none"
    assert page.is_visible("#pr-curve") and page.is_visible("#candidates")
    shot("first-head-awaits-confirmation")

    # Ten confirmations with the keyboard: y for a bag, n for anything else.
    answered = []
    for mark in range(10):
        first = page.locator("#candidates form.candidate").first
        upload_id = first.get_attribute("data-upload")
        key = "y" if upload_id in unlabelled_bags else "n"
        page.keyboard.press(key)
        page.wait_for_selector(f"text=Noted: it {'is' if key == 'y' else 'is not'} handbags. Retrained in")
        message = page.inner_text("ul.messages")
        answered.append((key, message))
        assert category.examples.filter(source="confirm").count() == mark + 1
    assert "y" in {k for k, _ in answered}, answered
    print("\n".join(m for _, m in answered))  # the retraining times a lead saw
    shot("ten-confirmations")
    assert AuditEvent.objects.filter(action=AuditAction.CATEGORY_EXAMPLE_ADDED, data__source="confirm").count() == 10
    assert not Flag.objects.filter(kind=FlagKind.CUSTOM_CATEGORY).exists()  # nothing flagged before it is live

    page.click("#dry-run")
    page.wait_for_selector("#dry-run-result")
    assert "would have flagged" in page.inner_text("#dry-run-result")
    shot("dry-run")
    page.click("#confirm-live")
    page.wait_for_selector("text=is live: it flags new uploads from now on")
    category.refresh_from_db()
    assert category.live_head_id == category.active_head_id
    live = category.live_head
    assert page.inner_text("#live-head") == f"v{live.version}"
    assert AuditEvent.objects.filter(action=AuditAction.CATEGORY_HEAD_CONFIRMED, target_id=str(live.pk)).exists()
    shot("live")

    new_bag = upload_create(data=bags[28], filename="new-bag.png", uploader=author)
    new_other = upload_create(data=new_trousers, filename="new-trousers.png", uploader=author)
    assert wait_for(lambda: _settled([new_bag, new_other]), timeout=120)
    flag = Flag.objects.get(upload=new_bag, kind=FlagKind.CUSTOM_CATEGORY)
    assert "category 'handbags'" in flag.reason and f"head v{live.version}" in flag.reason
    assert not Flag.objects.filter(upload=new_other, kind=FlagKind.CUSTOM_CATEGORY).exists(), list(
        Flag.objects.filter(upload=new_other).values_list("reason", flat=True)
    )
    page.goto(f"{live_server.url}/review/{new_bag.pk}/")
    assert f"category 'handbags' (head v{live.version})" in page.inner_text("ul.flags")
    shot("new-upload-flagged")


@pytest.mark.parametrize("width", [1440, 390])
def test_category_pages_fit_the_screen(browser, live_server, width):
    """The lead's category pages (list, a trained category awaiting its
    confirmation, the search with its reasons) keep within the window and
    pass the every-page checks (console, images, axe-core), with a head, its
    curve, candidates, the dry run and examples shown."""
    import numpy as np

    from classifier.models import ModelRole, ModelVersionStatus
    from moderation.models import Prediction, UploadStatus
    from moderation.services import categories as svc
    from tests.factories import ModelVersionFactory, UploadFactory

    lead = get_user_model().objects.create_user("lead", password="lead-pass-123")
    lead.groups.add(Group.objects.get(name="leads"))
    lead = get_user_model().objects.get(pk=lead.pk)
    backbone = ModelVersionFactory(role=ModelRole.IMAGENET, status=ModelVersionStatus.ACTIVE, class_names=["x"] * 1000)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, 1280))
    uploads = []
    for i in range(30):
        upload = UploadFactory(status=UploadStatus.APPROVED)
        embedding = (centres[i % 2] + rng.normal(size=1280)).astype(np.float16).tobytes()
        Prediction.objects.create(
            upload=upload, model_version=backbone, label="x", score=0.5, scores={}, embedding=embedding
        )
        uploads.append(upload)
    category = svc.category_create(actor=lead, name="a rather long category name for vape pens", threshold=0.5)
    svc.examples_add(actor=lead, category=category, upload_ids=[u.pk for u in uploads[::2]])
    svc.category_train(category_id=category.pk)
    svc.head_dry_run(actor=lead, category=category, days=7)  # the page then offers the confirmation
    if not AXE.exists():
        pytest.skip("axe-core is not installed: run `npm ci --no-audit --no-fund` (make test does)")
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    sign_in(page, live_server.url, "lead", "lead-pass-123")
    page.wait_for_url("**/review/")
    failures = []
    for name, url in (
        ("list", "/lead/categories/"),
        ("detail", f"/lead/categories/{category.slug}/"),
        ("search", f"/lead/categories/{category.slug}/search/?q=x"),
    ):
        console = watch_console(page)
        page.goto(f"{live_server.url}{url}")
        report = check_current_page(page, name=f"category-{name}-with-head", size=str(width), console=console)
        failures += [f"{name}: {problem}" for problem in report.problems]
    assert not failures, failures
    page.goto(f"{live_server.url}/lead/categories/{category.slug}/")
    assert page.is_visible("#confirm-live") and page.is_visible("#candidates") and page.is_visible("#pr-curve")
    context.close()

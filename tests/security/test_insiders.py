"""Issue 16, item 5: insiders. Separation of duties is enforced where the
data changes (the services), not only in the pages."""

import pytest

from moderation.errors import Forbidden
from moderation.models import (
    Appeal,
    AuditEvent,
    BankedHash,
    ClassPolicy,
    Flag,
    HashBank,
    Upload,
    UploadStatus,
)
from moderation.services.appeals import appeal_open
from moderation.services.banks import forget_bank_indexes
from moderation.services.queue import queue_claim, queue_claim_next
from moderation.services.review import review_decide, review_decide_bulk
from moderation.services.uploads import upload_classify, upload_create
from tests.factories import SURE, analysis, classified, policy_approves_nothing, upload_in_review
from tests.helpers import fashion_png

pytestmark = pytest.mark.django_db


@pytest.fixture
def third_moderator(db):
    from moderation.services.accounts import moderator_create

    return moderator_create(username="mod3", password="mod-pass-789")[0]


def test_a_moderator_cannot_decide_or_claim_their_own_upload(moderator, second_moderator):
    upload = upload_in_review(uploader=moderator)
    with pytest.raises(Forbidden) as refused:
        review_decide(upload_id=upload.pk, moderator=moderator, verdict="approve")
    assert refused.value.code == "own_upload"
    with pytest.raises(Forbidden):
        queue_claim(moderator=moderator, upload_id=upload.pk)
    assert queue_claim_next(moderator=moderator) is None  # never offered either
    upload.refresh_from_db()
    assert upload.status == UploadStatus.IN_REVIEW and upload.claimed_by is None
    review_decide(upload_id=upload.pk, moderator=second_moderator, verdict="approve")


def test_nobody_decides_their_own_appeal_even_when_the_policy_rejected(moderator, second_moderator):
    # The policy (not a person) rejects: every class is prohibited.
    ClassPolicy.objects.all().update(prohibited=True, reject_threshold=0.0)
    upload = classified(upload_create(data=fashion_png(1)[0], filename="mine.png", uploader=moderator), analysis(SURE))
    assert upload.status == UploadStatus.REJECTED
    appeal = appeal_open(upload_id=upload.pk, message="It is fine.", user=moderator)
    assert appeal.rejected_by is None  # nobody rejected it by hand
    with pytest.raises(Forbidden) as refused:
        review_decide(upload_id=upload.pk, moderator=moderator, verdict="approve")
    assert refused.value.code == "own_upload"
    upload.refresh_from_db()
    assert upload.status == UploadStatus.APPEALED
    review_decide(upload_id=upload.pk, moderator=second_moderator, verdict="approve")
    assert Appeal.objects.get(pk=appeal.pk).decided_by == second_moderator


def test_the_rejecter_opening_the_appeal_neither_claims_nor_blocks_it(
    client, moderator, second_moderator, django_user_model
):
    author = django_user_model.objects.create_user("author", password="author-pass-1")
    upload = upload_in_review(uploader=author)
    review_decide(upload_id=upload.pk, moderator=moderator, verdict="reject", reason_code="spam")
    appeal_open(upload_id=upload.pk, message="Please look again.", user=author)

    # The service refuses the claim ...
    with pytest.raises(Forbidden) as refused:
        queue_claim(moderator=moderator, upload_id=upload.pk)
    assert refused.value.code == "same_moderator"
    # ... and opening the page (which claims what it opens) leaves it unclaimed.
    client.force_login(moderator)
    page = client.get(f"/review/{upload.pk}/")
    assert page.status_code == 200 and "other than the one who rejected" in page.content.decode()
    upload.refresh_from_db()
    assert upload.claimed_by is None
    assert queue_claim_next(moderator=moderator) is None
    with pytest.raises(Forbidden):
        review_decide(upload_id=upload.pk, moderator=moderator, verdict="reject")

    # The moderator who may decide it is not kept waiting.
    assert queue_claim(moderator=second_moderator, upload_id=upload.pk).claimed_by == second_moderator
    review_decide(upload_id=upload.pk, moderator=second_moderator, verdict="reject")
    assert Appeal.objects.get(upload=upload).status == "upheld"


def test_nobody_answers_qa_on_their_own_upload(moderator, second_moderator):
    from moderation.models import QAItem
    from moderation.services.qa import qa_answer, qa_open_items

    upload = upload_in_review(uploader=moderator)
    review_decide(upload_id=upload.pk, moderator=second_moderator, verdict="approve")
    item = QAItem.objects.create(upload=upload, kind="blind", reference_verdict="approve")
    assert item not in qa_open_items(moderator=moderator)
    with pytest.raises(Forbidden) as refused:
        qa_answer(item_id=item.pk, moderator=moderator, verdict="approve")
    assert refused.value.code == "own_upload"


def test_bulk_refuses_ids_the_grid_would_not_show(moderator, second_moderator, django_user_model):
    author = django_user_model.objects.create_user("author", password="author-pass-1")
    low_risk = upload_in_review()
    flagged = upload_in_review()  # a bank match is looked at on its own
    Flag.objects.create(upload=flagged, kind="hash_match", category="bank", score=3, reason="test")
    rejecting = upload_in_review()  # a reject-level flag too
    Flag.objects.create(upload=rejecting, kind="adult", category="adult", score=0.9, action="reject", reason="test")
    own = upload_in_review(uploader=moderator)
    held = upload_in_review()
    queue_claim(moderator=second_moderator, upload_id=held.pk)
    appealed = upload_in_review(uploader=author)
    review_decide(upload_id=appealed.pk, moderator=second_moderator, verdict="reject")
    appeal_open(upload_id=appealed.pk, message="again", user=author)

    ids = [str(u.pk) for u in (low_risk, flagged, rejecting, own, held, appealed)] + ["not-a-uuid"]
    outcome = review_decide_bulk(upload_ids=ids, moderator=moderator, verdict="approve")
    assert outcome.decided == [str(low_risk.pk)]
    assert set(outcome.refused) == set(ids[1:])
    statuses = dict(Upload.objects.values_list("pk", "status"))
    assert statuses[low_risk.pk] == UploadStatus.APPROVED
    assert statuses[flagged.pk] == statuses[rejecting.pk] == statuses[own.pk] == statuses[held.pk]
    assert statuses[own.pk] == UploadStatus.IN_REVIEW
    assert statuses[appealed.pk] == UploadStatus.APPEALED


def test_bulk_grid_page_refuses_a_bank_matched_id(client, moderator):
    flagged = upload_in_review()
    Flag.objects.create(upload=flagged, kind="hash_match", category="bank", score=3, reason="test")
    client.force_login(moderator)
    client.post("/review/grid/", {"verdict": "approve", "selected": [str(flagged.pk)]})
    assert Upload.objects.get(pk=flagged.pk).status == UploadStatus.IN_REVIEW


def test_an_overturned_appeal_takes_its_image_out_of_the_bank(
    active_model, moderator, second_moderator, django_user_model, settings
):
    settings.BANK_CHECK_SECONDS = 0
    forget_bank_indexes()
    author = django_user_model.objects.create_user("author", password="author-pass-1")
    image = fashion_png(5)[0]
    policy_approves_nothing()
    upload = upload_create(data=image, filename="mine.png", uploader=author)
    upload_classify(upload_id=upload.pk)  # the real image's PDQ hash goes into the bank
    bank = HashBank.objects.get(name="known-bad")
    review_decide(upload_id=upload.pk, moderator=moderator, verdict="reject", reason_code="spam", bank_id=bank.pk)
    entry = BankedHash.objects.get(upload=upload)

    # While banked, the same image is rejected automatically.
    again = upload_create(data=image, filename="again.png")
    upload_classify(upload_id=again.pk)
    again.refresh_from_db()
    assert again.status == UploadStatus.REJECTED and again.flags.filter(kind="hash_match").exists()

    appeal_open(upload_id=upload.pk, message="It is my own shirt.", user=author)
    review_decide(upload_id=upload.pk, moderator=second_moderator, verdict="approve")
    assert not BankedHash.objects.filter(pk=entry.pk).exists()
    removed = AuditEvent.objects.get(action="bank.hash_removed", target_id=str(entry.pk))
    assert removed.actor == second_moderator
    decided = AuditEvent.objects.get(action="appeal.decided", target_id=str(upload.pk))
    assert decided.data["bank_entries_removed"] == [entry.pk]

    # A re-upload of the same image is no longer rejected by that entry.
    third = upload_create(data=image, filename="third.png")
    upload_classify(upload_id=third.pk)
    third.refresh_from_db()
    assert third.status == UploadStatus.IN_REVIEW and not third.flags.filter(kind="hash_match").exists()

"""Undo (and so revise) one's last decision within REVIEW_UNDO_SECONDS:
enforced in the service, audited, and taking back what the decision did
(webhooks not sent yet, the training example, bank entries)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from classifier.models import TrainingExample
from moderation.errors import Conflict, Forbidden
from moderation.models import AuditEvent, BankedHash, Decision, HashBank, Upload, UploadStatus, WebhookDelivery
from moderation.services.appeals import appeal_open
from moderation.services.review import review_decide, review_undo
from moderation.services.webhooks import webhook_endpoint_create
from tests.factories import upload_in_review

pytestmark = pytest.mark.django_db


@pytest.fixture
def partner_upload(partner_key):
    partner, _ = partner_key()
    webhook_endpoint_create(partner=partner, url="http://127.0.0.1:9/hook")  # loopback allowed in tests
    return upload_in_review(partner=partner)


def test_undo_puts_the_item_back_and_takes_back_what_the_decision_did(partner_upload, moderator, settings):
    settings.REVIEW_UNDO_SECONDS = 30
    upload = partner_upload
    bank = HashBank.objects.create(name="undo-bank")
    decision = review_decide(
        upload_id=upload.pk, moderator=moderator, verdict="reject", reason_code="spam", label="Shirt", bank_id=bank.pk
    )
    delivery = WebhookDelivery.objects.get(upload=upload)
    # The partner hears of it only after the undo window.
    assert delivery.next_attempt_at >= timezone.now() + timedelta(seconds=29)
    assert TrainingExample.objects.filter(reference=f"upload:{upload.pk}").exists()
    assert BankedHash.objects.filter(upload=upload).exists()

    review_undo(decision_id=decision.pk, moderator=moderator)
    upload.refresh_from_db()
    assert upload.status == UploadStatus.IN_REVIEW and upload.claimed_by == moderator  # theirs to decide again
    assert Decision.objects.get(pk=decision.pk).undone_at is not None
    assert not WebhookDelivery.objects.filter(upload=upload).exists()
    assert not TrainingExample.objects.filter(reference=f"upload:{upload.pk}").exists()
    assert not BankedHash.objects.filter(upload=upload).exists()
    event = AuditEvent.objects.get(action="review.undone")
    assert event.data["decision"] == decision.pk and event.data["webhooks_cancelled"] == 1
    assert event.data["verdict"] == "reject" and event.data["reason_code"] == "spam"

    # Revised: decided again, the new verdict is the one published.
    review_decide(upload_id=upload.pk, moderator=moderator, verdict="approve")
    assert Upload.objects.get(pk=upload.pk).status == UploadStatus.APPROVED
    assert WebhookDelivery.objects.get(upload=upload).payload["upload"]["status"] == "approved"
    with pytest.raises(Conflict) as twice:
        review_undo(decision_id=decision.pk, moderator=moderator)
    assert twice.value.code == "already_undone"


def test_only_its_own_moderator_undoes_a_decision(moderator, second_moderator, django_user_model):
    upload = upload_in_review()
    decision = review_decide(upload_id=upload.pk, moderator=moderator, verdict="approve")
    with pytest.raises(Forbidden) as refused:
        review_undo(decision_id=decision.pk, moderator=second_moderator)
    assert refused.value.code == "not_your_decision"
    visitor = django_user_model.objects.create_user("visitor", password="visitor-pass-1")
    with pytest.raises(Forbidden):
        review_undo(decision_id=decision.pk, moderator=visitor)
    assert Upload.objects.get(pk=upload.pk).status == UploadStatus.APPROVED
    assert not AuditEvent.objects.filter(action="review.undone").exists()


def test_the_undo_window_closes(moderator, settings):
    settings.REVIEW_UNDO_SECONDS = 30
    upload = upload_in_review()
    decision = review_decide(upload_id=upload.pk, moderator=moderator, verdict="approve")
    Decision.objects.filter(pk=decision.pk).update(created_at=timezone.now() - timedelta(seconds=31))
    with pytest.raises(Conflict) as late:
        review_undo(decision_id=decision.pk, moderator=moderator)
    assert late.value.code == "undo_expired"
    assert Upload.objects.get(pk=upload.pk).status == UploadStatus.APPROVED


def test_an_appealed_upload_is_not_undone(moderator, second_moderator, django_user_model):
    author = django_user_model.objects.create_user("author", password="author-pass-1")
    upload = upload_in_review(uploader=author)
    rejection = review_decide(upload_id=upload.pk, moderator=moderator, verdict="reject")
    appeal_open(upload_id=upload.pk, message="It is only a bag.", user=author)
    with pytest.raises(Conflict) as refused:
        review_undo(decision_id=rejection.pk, moderator=moderator)
    assert refused.value.code == "undo_not_allowed"
    outcome = review_decide(upload_id=upload.pk, moderator=second_moderator, verdict="approve")
    with pytest.raises(Conflict):
        review_undo(decision_id=outcome.pk, moderator=second_moderator)
    assert Upload.objects.get(pk=upload.pk).status == UploadStatus.APPROVED


def test_the_page_offers_undo_after_a_decision_and_takes_it(client, moderator):
    first, _second = upload_in_review(), upload_in_review()
    client.force_login(moderator)
    response = client.post(f"/review/{first.pk}/", {"verdict": "reject", "reason_code": "spam"}, follow=True)
    page = response.content.decode()
    assert 'id="undo"' in page and "rejected (Spam or scam)" in page
    decision = Decision.objects.get(upload=first)
    response = client.post(f"/review/undo/{decision.pk}/", follow=True)
    assert response.redirect_chain[-1][0] == f"/review/{first.pk}/"
    assert "back in review" in response.content.decode() and 'id="undo"' not in response.content.decode()
    assert Upload.objects.get(pk=first.pk).status == UploadStatus.IN_REVIEW


def test_the_page_offers_no_undo_for_an_appeals_outcome_or_an_old_decision(
    client, moderator, second_moderator, django_user_model, settings
):
    author = django_user_model.objects.create_user("author", password="author-pass-1")
    upload = upload_in_review(uploader=author)
    review_decide(upload_id=upload.pk, moderator=second_moderator, verdict="reject")
    appeal_open(upload_id=upload.pk, message="It is only a bag.", user=author)
    review_decide(upload_id=upload.pk, moderator=moderator, verdict="approve")
    client.force_login(moderator)
    assert 'id="undo"' not in client.get("/review/").content.decode()
    other = upload_in_review()
    decision = review_decide(upload_id=other.pk, moderator=moderator, verdict="approve")
    assert 'id="undo"' in client.get("/review/").content.decode()
    Decision.objects.filter(pk=decision.pk).update(created_at=timezone.now() - timedelta(seconds=31))
    assert 'id="undo"' not in client.get("/review/").content.decode()


def test_an_undone_decision_says_nothing_to_the_uploader_and_is_marked_for_moderators(
    client, moderator, django_user_model
):
    from moderation.uploader_status import reason

    author = django_user_model.objects.create_user("author", password="author-pass-1")
    upload = upload_in_review(uploader=author)
    undone = review_decide(upload_id=upload.pk, moderator=moderator, verdict="reject", reason_code="spam")
    review_undo(decision_id=undone.pk, moderator=moderator)
    review_decide(upload_id=upload.pk, moderator=moderator, verdict="reject", reason_code="adult")
    upload = Upload.objects.prefetch_related("decisions").get(pk=upload.pk)
    assert "spam" not in reason(upload) and "adult" in reason(upload)
    client.force_login(moderator)
    page = client.get(f"/review/{upload.pk}/").content.decode()
    assert "<s>reject</s> (undone)" in page

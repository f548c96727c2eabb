"""The upload lifecycle (moderation/services/lifecycle.py): a locked row saves
exactly what changed, and a move publishes itself."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from moderation.models import Upload, UploadStatus, WebhookDelivery, WebhookEndpoint
from moderation.services import lifecycle
from moderation.services.lifecycle import InvalidTransition, upload_lock, upload_locked, upload_save, upload_transition
from tests.factories import UploadFactory

pytestmark = pytest.mark.django_db


def _updates(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].startswith("UPDATE")]


def test_leaving_the_block_saves_only_the_fields_that_changed():
    upload = UploadFactory(status=UploadStatus.PROCESSING, caption="kept")
    with CaptureQueriesContext(connection) as queries:
        with upload_locked(upload.pk) as locked:
            locked.attempts += 1
    (update,) = _updates(queries)
    assert '"attempts"' in update and '"updated_at"' in update
    assert '"caption"' not in update and '"status"' not in update
    upload.refresh_from_db()
    assert upload.attempts == 1


def test_nothing_changed_writes_nothing_unless_touched():
    upload = UploadFactory(status=UploadStatus.PENDING)
    with CaptureQueriesContext(connection) as queries:
        with upload_locked(upload.pk):
            pass
    assert _updates(queries) == []
    before = Upload.objects.get(pk=upload.pk).updated_at
    with upload_locked(upload.pk) as locked:
        assert upload_save(locked, touch=True) == ["updated_at"]
    assert Upload.objects.get(pk=upload.pk).updated_at > before


def test_an_error_in_the_block_saves_nothing():
    upload = UploadFactory(status=UploadStatus.PENDING)
    with pytest.raises(InvalidTransition), upload_locked(upload.pk) as locked:
        locked.failure_reason = "half done"
        upload_transition(locked, UploadStatus.APPROVED)  # pending cannot be approved
    upload.refresh_from_db()
    assert upload.status == UploadStatus.PENDING and upload.failure_reason == ""


def test_a_missing_row_or_one_outside_the_rows_asked_for_is_none():
    upload = UploadFactory(status=UploadStatus.APPROVED)
    with upload_locked(upload.pk, among=Upload.objects.filter(status=UploadStatus.PENDING)) as locked:
        assert locked is None
    with pytest.raises(TypeError):
        upload_lock()


def test_settling_wakes_the_waiting_request_once_after_commit(monkeypatch, django_capture_on_commit_callbacks):
    published = []
    monkeypatch.setattr(lifecycle, "publish_settled", published.append)  # Redis is the outside thing here
    upload = UploadFactory(status=UploadStatus.PROCESSING)
    with django_capture_on_commit_callbacks(execute=True):
        with upload_locked(upload.pk) as locked:
            upload_transition(locked, UploadStatus.IN_REVIEW)
            assert published == []  # not before commit
    assert published == [upload.pk]
    with django_capture_on_commit_callbacks(execute=True):
        with upload_locked(upload.pk) as locked:
            upload_transition(locked, UploadStatus.APPROVED)  # a decision, not a settlement
    assert published == [upload.pk]


@pytest.mark.parametrize(
    ("before", "event"), [(UploadStatus.IN_REVIEW, "upload.decided"), (UploadStatus.APPEALED, "appeal.decided")]
)
def test_a_decision_queues_the_partners_webhooks_with_the_event_its_move_names(partner_key, before, event):
    partner, _ = partner_key()
    WebhookEndpoint.objects.create(partner=partner, url="https://partner.example/hook")
    upload = UploadFactory(status=before, partner=partner)
    with upload_locked(upload.pk) as locked:
        upload_transition(locked, UploadStatus.APPROVED)
    (delivery,) = WebhookDelivery.objects.filter(upload=upload)
    assert delivery.event == event and delivery.payload["upload"]["status"] == UploadStatus.APPROVED


@pytest.mark.parametrize(("seconds_left", "held"), [(60, True), (0, False), (-60, False)])
def test_one_claim_rule_for_opening_deciding_being_offered_and_bulk(moderator, second_moderator, seconds_left, held):
    """A claim of someone else's that has not run out keeps the moderator from
    opening, deciding and being offered the item, and from the bulk grid; at
    its last instant and after it, nobody holds it."""
    from datetime import timedelta

    from django.utils import timezone

    from moderation.errors import Conflict
    from moderation.selectors import low_risk_queryset
    from moderation.services.queue import claim_held_by_other, queue_claim, queue_claim_next
    from moderation.services.review import review_decide

    now = timezone.now()
    upload = UploadFactory(
        status=UploadStatus.IN_REVIEW, claimed_by=second_moderator, claimed_until=now + timedelta(seconds=seconds_left)
    )
    if seconds_left == 0:
        upload.claimed_until = timezone.now()  # ran out as we look
        Upload.objects.filter(pk=upload.pk).update(claimed_until=upload.claimed_until)
    assert claim_held_by_other(upload, moderator) is held
    assert claim_held_by_other(upload, second_moderator) is False
    assert low_risk_queryset(moderator=moderator).filter(pk=upload.pk).exists() is not held
    assert (queue_claim_next(moderator=moderator) is None) is held
    if held:
        with pytest.raises(Conflict):
            queue_claim(moderator=moderator, upload_id=upload.pk)
        with pytest.raises(Conflict):
            review_decide(upload_id=upload.pk, moderator=moderator, verdict="approve")
    else:
        assert queue_claim(moderator=moderator, upload_id=upload.pk).claimed_by == moderator
        review_decide(upload_id=upload.pk, moderator=moderator, verdict="approve")

"""The review dashboard: queue order, claims, bulk, wellness, QA, audit, metrics, roles."""

import csv
import io
import re
import threading
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from moderation import queue
from moderation.models import (
    AuditEvent,
    ClassPolicy,
    Flag,
    ModeratorPreference,
    QAItem,
    Upload,
    UploadStatus,
)
from moderation.services.appeals import appeal_open
from moderation.services.qa import qa_answer, qa_sample_approval, qa_sample_decision
from moderation.services.queue import queue_claim, queue_claim_next
from moderation.services.review import review_decide
from tests.factories import upload_in_review, uploads_in_review

pytestmark = pytest.mark.django_db


def test_priority_formula():
    certain = queue.static_priority(scores={"a": 0.98, "b": 0.02}, flags=0, appeal=False, partner_priority=0)
    torn = queue.static_priority(scores={"a": 0.5, "b": 0.49}, flags=0, appeal=False, partner_priority=0)
    flagged = queue.static_priority(scores={"a": 0.98, "b": 0.02}, flags=2, appeal=False, partner_priority=0)
    appeal = queue.static_priority(scores={"a": 0.98, "b": 0.02}, flags=0, appeal=True, partner_priority=0)
    assert torn > certain and flagged > torn and appeal > flagged
    now = timezone.now()
    old, new = now - timedelta(hours=40), now
    # 40 hours of waiting (10 points) beats a torn model's uncertainty (< 4 points).
    assert queue.rank(certain, old) > queue.rank(torn, new)
    assert queue.priority_now(queue.rank(certain, old), now) == pytest.approx(certain + 10.0)


def test_queue_orders_by_rank_and_claims(moderator, second_moderator):
    uploads = uploads_in_review(4)
    ranks = dict(Upload.objects.values_list("pk", "review_rank"))
    expected = sorted(ranks, key=lambda pk: (-ranks[pk], str(pk)))
    first = queue_claim_next(moderator=moderator)
    assert first.pk == expected[0]
    # The other moderator is not offered the claimed item.
    assert queue_claim_next(moderator=second_moderator).pk == expected[1]
    # Opening a claimed item is refused while the claim lasts ...
    from moderation.errors import Conflict

    with pytest.raises(Conflict):
        queue_claim(moderator=second_moderator, upload_id=first.pk)
    with pytest.raises(Conflict):
        review_decide(upload_id=first.pk, moderator=second_moderator, verdict="approve")
    # ... and allowed once it expired.
    Upload.objects.filter(pk=first.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert queue_claim(moderator=second_moderator, upload_id=first.pk).claimed_by == second_moderator
    assert len(uploads) == 4


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_moderators_at_the_same_moment_get_different_items():
    from moderation.services.accounts import moderator_create

    uploads_in_review(6)
    moderators = [moderator_create(username=f"m{i}", password="pw-123456")[0] for i in range(4)]
    barrier = threading.Barrier(len(moderators))
    claimed, errors = [], []

    def claim(user):
        try:
            barrier.wait()
            upload = queue_claim_next(moderator=user)
            claimed.append(upload.pk if upload else None)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(m,)) for m in moderators]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert None not in claimed and len(set(claimed)) == len(moderators)


def _bulk_queue(n: int) -> None:
    """n items in review, written directly (the queue page only reads them)."""
    from moderation.models import Prediction

    base = Upload.objects.order_by("created_at").first()
    prediction = base.predictions.get()
    now = timezone.now()
    rows = [
        Upload(
            id=uuid.uuid4(),
            image=base.image.name,
            image_format="PNG",
            content_type="image/png",
            width=28,
            height=28,
            byte_size=10,
            sha256="0" * 64,
            status=UploadStatus.IN_REVIEW,
            created_at=now,
            review_rank=float(i),
        )
        for i in range(n)
    ]
    Upload.objects.bulk_create(rows, batch_size=500)
    Prediction.objects.bulk_create(
        [
            Prediction(
                upload=u, model_version_id=prediction.model_version_id, label="Bag", score=0.5, scores=prediction.scores
            )
            for u in rows
        ],
        batch_size=500,
    )


def test_queue_page_queries_do_not_grow_with_the_queue(client, moderator):
    uploads_in_review(1)
    client.force_login(moderator)
    counts = []
    for size in (10, 1000):
        _bulk_queue(size - Upload.objects.filter(status=UploadStatus.IN_REVIEW).count())
        assert Upload.objects.filter(status=UploadStatus.IN_REVIEW).count() == size
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/review/")
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    assert f"{1000} waiting" in response.content.decode()
    # Keyset pages: following "next" walks the queue without repeats.
    page = client.get("/review/").content.decode()
    assert 'rel="next"' in page


def test_bulk_grid_decides_many_low_risk_items(client, moderator):
    uploads = uploads_in_review(5)
    Flag.objects.create(upload=uploads[0], kind="hash_match", category="bank", score=3, reason="test")
    client.force_login(moderator)
    page = client.get("/review/grid/").content.decode()
    assert str(uploads[0].pk) not in page  # a bank match: not low risk
    selected = [str(u.pk) for u in uploads[1:4]]
    client.post("/review/grid/", {"verdict": "approve", "selected": selected})
    assert Upload.objects.filter(pk__in=selected, status=UploadStatus.APPROVED).count() == 3
    assert Upload.objects.get(pk=uploads[4].pk).status == UploadStatus.IN_REVIEW


def test_bulk_grid_serves_review_level_flags_by_reason(client, moderator):
    """Items reach review through flags: the grid serves those whose flags are
    review-level (no bank match, none at a reject threshold), grouped by
    reason, and a same-reason set is decided together."""
    uploads = uploads_in_review(4)
    for upload in uploads[:2]:
        Flag.objects.create(upload=upload, kind="adult", category="adult content", score=0.4, reason="test")
    Flag.objects.create(upload=uploads[2], kind="prohibited_goods", category="weapons", score=0.3, reason="test")
    client.force_login(moderator)
    page = client.get("/review/grid/").content.decode()
    assert all(str(u.pk) in page for u in uploads)
    assert "Adult content: adult content (2)" in page and "Prohibited goods: weapons (1)" in page
    assert "No flag (1)" in page
    assert 'class="grid-image blurred"' in page  # adult-flagged thumbnails follow the blur setting
    page = client.get("/review/grid/?reason=adult:adult content").content.decode()
    assert str(uploads[0].pk) in page and str(uploads[1].pk) in page
    assert str(uploads[2].pk) not in page and str(uploads[3].pk) not in page
    response = client.post(
        "/review/grid/",
        {"verdict": "approve", "reason": "adult:adult content", "selected": [str(u.pk) for u in uploads[:2]]},
    )
    assert response["Location"] == "/review/grid/?reason=adult%3Aadult+content"  # back to the same reason
    assert Upload.objects.filter(status=UploadStatus.APPROVED).count() == 2
    page = client.get("/review/grid/?reason=nonsense").content.decode()  # an unknown reason: every item
    assert str(uploads[2].pk) in page and str(uploads[3].pk) in page


def test_adult_flagged_images_are_blurred_per_user_setting(client, moderator):
    [upload] = uploads_in_review(1)
    Flag.objects.create(upload=upload, kind="adult", category="adult content", score=0.5, reason="test")
    client.force_login(moderator)
    page = client.get(f"/review/{upload.pk}/").content.decode()
    assert 'class="subject blurred"' in page and 'id="reveal"' in page
    ModeratorPreference.objects.update_or_create(
        user=moderator, defaults={"blur_flagged": False, "greyscale_flagged": True}
    )
    page = client.get(f"/review/{upload.pk}/").content.decode()
    assert "blurred" not in page.split('id="subject"')[0].rsplit("<figure", 1)[-1] and "greyscale" in page


def test_qa_sampling_and_agreement(client, moderator, second_moderator, settings):
    from django.contrib.auth.models import Group

    [upload] = uploads_in_review(1)
    decision = review_decide(upload_id=upload.pk, moderator=moderator, verdict="approve")
    second = qa_sample_decision(upload=upload, decision=decision, rate=1.0)
    blind = qa_sample_approval(upload=upload, rate=1.0)
    assert qa_sample_approval(upload=upload, rate=0.0) is None
    from moderation.errors import Forbidden

    with pytest.raises(Forbidden):
        qa_answer(item_id=second.pk, moderator=moderator, verdict="approve")
    qa_answer(item_id=second.pk, moderator=second_moderator, verdict="approve")
    qa_answer(item_id=blind.pk, moderator=second_moderator, verdict="reject")
    upload.refresh_from_db()
    assert upload.status == UploadStatus.APPROVED  # QA never changes the upload
    lead = get_user_model().objects.create_user("lead", password="lead-pass-1")
    lead.groups.add(Group.objects.get(name="leads"))
    client.force_login(lead)
    page = client.get("/lead/metrics/").content.decode()
    assert "moderator vs moderator (second reviews): 100.0 % of 1" in page
    assert "moderator vs policy (blind QA of automatic approvals): 0.0 % of 1" in page
    assert QAItem.objects.filter(answered_at__isnull=False).count() == 2


def test_metrics_page_lists_training_runs_from_scratch_and_warm_started(client, active_model):
    """A run from scratch has no base version: the page names its
    architecture (a fresh install's bootstrap runs are all such runs)."""
    from classifier.models import TrainingRun, TrainingRunStatus, TrainingTrigger

    done = TrainingRunStatus.SUCCEEDED  # one unfinished run per role at a time
    TrainingRun.objects.create(trigger=TrainingTrigger.UPGRADE, architecture="bn-cnn", status=done)
    TrainingRun.objects.create(trigger=TrainingTrigger.MANUAL, base_version=active_model, status=done)
    TrainingRun.objects.create(trigger=TrainingTrigger.MANUAL, status=TrainingRunStatus.FAILED)
    lead = get_user_model().objects.create_user("lead", password="lead-pass-1")
    lead.groups.add(Group.objects.get(name="leads"))
    client.force_login(lead)
    response = client.get("/lead/metrics/")
    assert response.status_code == 200
    cells = re.findall(r"<tr data-run=\"\d+\">(?:<td>.*?</td>){2}\s*<td>(.*?)</td>", response.content.decode(), re.S)
    assert sorted(cells) == sorted(["bn-cnn", active_model.architecture, "—"])


def test_audit_log_search_and_csv(client, moderator):
    [upload] = uploads_in_review(1)
    review_decide(upload_id=upload.pk, moderator=moderator, verdict="reject", reason_code="spam")
    lead = get_user_model().objects.create_user("lead", password="lead-pass-1")
    lead.groups.add(Group.objects.get(name="leads"))
    client.force_login(lead)
    page = client.get("/lead/audit/", {"action": "review.decided"}).content.decode()
    assert "<td>Review decided</td>" in page and "<td>Policy verdict</td>" not in page
    response = client.get("/lead/audit/", {"q": str(upload.pk), "format": "csv"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["created_at", "actor", "action", "target_type", "target_id", "data"]
    assert {row[2] for row in rows[1:]} >= {"upload.created", "policy.verdict", "review.decided"}
    assert all(row[4] == str(upload.pk) for row in rows[1:])
    assert AuditEvent.objects.filter(target_id=str(upload.pk)).count() == len(rows) - 1


def test_threshold_change_in_the_admin_is_audited(client):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "root-pass-1")
    client.force_login(admin)
    policy = ClassPolicy.objects.get(class_name="Bag")
    response = client.post(
        f"/admin/moderation/classpolicy/{policy.pk}/change/",
        {"class_name": "Bag", "approve_threshold": "0.8", "reject_threshold": "0.9"},
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="class_policy.changed", target_id=str(policy.pk))
    assert event.actor == admin and event.data["fields"] == {"approve_threshold": "0.8"}


def test_an_appeal_is_overturned_or_upheld_in_one_vocabulary(client, moderator, second_moderator, django_user_model):
    """The moderator overturns or upholds; the page's message, the uploader's
    badge and notice, and the API's appeal.status use the same words."""
    from moderation.representation import upload_representation
    from moderation.uploader_status import badge, notices

    author = django_user_model.objects.create_user("author", password="author-pass-1")
    upload = upload_in_review(uploader=author)
    review_decide(upload_id=upload.pk, moderator=moderator, verdict="reject", reason_code="spam")
    appeal_open(upload_id=upload.pk, message="It is only a bag.", user=author)
    client.force_login(second_moderator)
    page = client.get(f"/review/{upload.pk}/").content.decode()
    assert "Overturn the rejection <kbd>A</kbd>" in page and "Uphold the rejection <kbd>R</kbd>" in page
    response = client.post(f"/review/{upload.pk}/", {"verdict": "approve"}, follow=True)
    assert "rejection overturned." in response.content.decode()
    upload = Upload.objects.get(pk=upload.pk)
    assert upload_representation(upload)["appeal"]["status"] == "overturned"
    assert badge(upload).text == "Published — rejection overturned on appeal"
    assert "rejection overturned on appeal" in notices([upload])[0].text


def test_a_claim_is_short_renewed_by_the_page_and_taken_over_once_abandoned(
    client, moderator, second_moderator, settings
):
    settings.REVIEW_CLAIM_SECONDS = 60
    upload = upload_in_review()
    client.force_login(moderator)
    before = timezone.now()
    page = client.get(f"/review/{upload.pk}/").content.decode()
    held = Upload.objects.get(pk=upload.pk)
    assert held.claimed_by == moderator and held.claimed_until <= before + timedelta(seconds=61)  # not 5 minutes
    assert f'data-url="/review/{upload.pk}/claim/"' in page and 'data-heartbeat-seconds="20"' in page
    renewed = client.post(f"/review/{upload.pk}/claim/")  # the heartbeat
    assert renewed.status_code == 200 and renewed.json()["claimed_until"]
    assert Upload.objects.get(pk=upload.pk).claimed_until >= held.claimed_until

    other = _signed_in_client(second_moderator)
    refused = other.post(f"/review/{upload.pk}/claim/")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "claimed_by_other"
    page = other.get(f"/review/{upload.pk}/").content.decode()
    assert 'id="take-over"' in page and 'data-held-elsewhere="1"' in page  # no heartbeat for a claim not ours
    # Abandoned: no heartbeat came, the claim lapsed; the second moderator takes it over.
    Upload.objects.filter(pk=upload.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    taken = other.post(f"/review/{upload.pk}/claim/")
    assert taken.status_code == 200 and Upload.objects.get(pk=upload.pk).claimed_by == second_moderator
    assert client.post(f"/review/{upload.pk}/claim/").status_code == 409  # now the first one is refused


def _signed_in_client(user):
    from django.test import Client

    other = Client()
    other.force_login(user)
    return other


def test_the_queue_filters_by_flag_kind_category_partner_appeals_and_a_search(
    client, moderator, second_moderator, partner_key, django_user_model
):
    partner, _ = partner_key("acme")
    by_partner = upload_in_review(partner=partner, external_id="sku-991")
    adult, weapons, plain = upload_in_review(), upload_in_review(caption="red leather boots"), upload_in_review()
    Flag.objects.create(upload=adult, kind="adult", category="adult content", score=0.4, reason="test")
    Flag.objects.create(upload=weapons, kind="prohibited_goods", category="weapons", score=0.3, reason="test")
    author = django_user_model.objects.create_user("author", password="author-pass-1")
    appealed = upload_in_review(uploader=author)
    review_decide(upload_id=appealed.pk, moderator=second_moderator, verdict="reject")
    appeal_open(upload_id=appealed.pk, message="again", user=author)
    client.force_login(moderator)

    def shown(query: str) -> set:
        page = client.get(f"/review/?{query}").content.decode()
        return {u.pk for u in (by_partner, adult, weapons, plain, appealed) if f'data-id="{u.pk}"' in page}

    assert shown("") == {by_partner.pk, adult.pk, weapons.pk, plain.pk, appealed.pk}
    assert shown("flag=prohibited_goods") == {weapons.pk}
    assert shown("category=adult+content") == {adult.pk}
    assert shown(f"partner={partner.pk}") == {by_partner.pk}
    assert shown("appeals=true") == {appealed.pk}
    assert shown("q=leather") == {weapons.pk}
    assert shown("q=sku-99") == {by_partner.pk}
    assert shown(f"q={str(plain.pk)[:8]}") == {plain.pk}
    assert shown("partner=nonsense") == shown("")  # a bad value is ignored, as on every page
    page = client.get("/review/?flag=adult").content.decode()
    assert "1 match" in page and '<option value="adult" selected>' in page and ">acme<" in page


def test_metrics_show_flag_precision_appeal_outcomes_overturn_rate_and_queue_age(
    client, lead, moderator, second_moderator, django_user_model
):
    from moderation.services.review import review_undo

    author = django_user_model.objects.create_user("author", password="author-pass-1")
    flagged = [upload_in_review(uploader=author) for _ in range(4)]
    for upload in flagged:
        Flag.objects.create(upload=upload, kind="prohibited_goods", category="weapons", score=0.3, reason="test")
    undone = review_decide(upload_id=flagged[0].pk, moderator=moderator, verdict="approve")
    review_undo(decision_id=undone.pk, moderator=moderator)  # an undone decision does not count
    review_decide(upload_id=flagged[0].pk, moderator=moderator, verdict="reject")
    review_decide(upload_id=flagged[1].pk, moderator=moderator, verdict="reject")
    review_decide(upload_id=flagged[2].pk, moderator=moderator, verdict="approve")
    for upload, outcome in ((flagged[0], "approve"), (flagged[1], "reject")):
        appeal_open(upload_id=upload.pk, message="why", user=author)
        review_decide(upload_id=upload.pk, moderator=second_moderator, verdict=outcome)
    Upload.objects.filter(pk=flagged[3].pk).update(created_at=timezone.now() - timedelta(days=2))

    client.force_login(lead)
    page = client.get("/lead/metrics/").content.decode()
    # weapons: 3 reviewed (the fourth waits), 2 rejected on review; the appeal that overturned one does not change that.
    assert re.search(r"<td>weapons</td><td>3</td><td>2</td><td>66.7 %</td>", page), page[page.find("flag-precision") :][
        :600
    ]
    assert "open 0 · rejection upheld 1 · rejection overturned 1" in page
    assert '<strong id="overturn-rate">50.0 %</strong>' in page
    assert "over a day: 1" in page


def test_reviewing_a_filtered_queue_stays_in_it(client, moderator, second_moderator):
    uploads = uploads_in_review(4)
    weapons = sorted(uploads[:2], key=lambda u: (-u.review_rank, str(u.pk)))
    for upload in weapons:
        Flag.objects.create(upload=upload, kind="prohibited_goods", category="weapons", score=0.3, reason="test")
    client.force_login(moderator)
    queue = client.get("/review/?category=weapons").content.decode()
    assert 'href="/review/next/?category=weapons" id="start">Start reviewing these' in queue
    opened = client.get("/review/next/?category=weapons")
    assert opened["Location"] == f"/review/{weapons[0].pk}/?category=weapons"
    page = client.get(opened["Location"]).content.decode()
    assert 'id="queue-filter-note"' in page and f"?after={weapons[0].pk}&amp;category=weapons" in page
    decided = client.post(opened["Location"], {"verdict": "approve"})
    assert decided["Location"] == f"/review/next/?after={weapons[0].pk}&category=weapons"
    assert client.get(decided["Location"])["Location"] == f"/review/{weapons[1].pk}/?category=weapons"
    # J from the filter's last item finds none left in it: back to the filtered queue, never an item outside it.
    step = client.get(f"/review/next/?after={weapons[1].pk}&category=weapons")
    assert step["Location"] == "/review/?category=weapons"
    assert Upload.objects.filter(pk__in=[u.pk for u in uploads[2:]], claimed_by=moderator).count() == 0

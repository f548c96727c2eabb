import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from moderation.calibration import calibrate_class
from moderation.errors import Forbidden
from moderation.models import AuditEvent, ClassPolicy, Upload, UploadStatus
from moderation.services.thresholds import thresholds_apply, thresholds_propose
from tests.factories import DecisionFactory, uploads_in_review


def test_lowest_threshold_that_keeps_the_target_precision():
    # Scores 0.99..0.50; everything at or above 0.80 was right, below that half wrong.
    reviewed = [(s / 100, True) for s in range(99, 79, -1)] + [(s / 100, s % 2 == 0) for s in range(79, 49, -1)]
    result = calibrate_class(
        "Bag",
        current=0.9,
        reviewed=reviewed,
        all_scores=[r[0] for r in reviewed],
        total_uploads=100,
        target_precision=0.95,
        min_reviewed=10,
    )
    # Cumulative precision stays >= 0.95 down to 0.79 (20 right + 0.79 wrong: 20/21 = 0.952),
    # then 21/22 = 0.954 at 0.78 ... 0.76: 22/24 = 0.9167 < 0.95.
    assert result.proposed == pytest.approx(0.78)
    assert result.precision == pytest.approx(21 / 22)
    assert result.coverage == pytest.approx(22 / 100)
    assert result.error_rate == pytest.approx(1 / 22)
    assert result.curve and all(0 <= p.coverage <= 1 for p in result.curve)


def test_too_few_reviewed_items_keeps_the_threshold():
    result = calibrate_class(
        "Bag",
        current=0.9,
        reviewed=[(0.9, True)] * 5,
        all_scores=[0.9] * 5,
        total_uploads=5,
        target_precision=0.95,
        min_reviewed=10,
    )
    assert result.proposed is None and "too few" in result.note and "0.90" in result.note


def test_unreachable_precision_keeps_the_threshold():
    result = calibrate_class(
        "Bag",
        current=0.9,
        reviewed=[(0.9, False)] * 20,
        all_scores=[0.9] * 20,
        total_uploads=20,
        target_precision=0.95,
        min_reviewed=10,
    )
    assert result.proposed is None and "no threshold" in result.note


def test_tied_scores_are_one_cut():
    result = calibrate_class(
        "Bag",
        current=0.9,
        reviewed=[(0.7, True)] * 9 + [(0.7, False)],
        all_scores=[0.7] * 10,
        total_uploads=10,
        target_precision=0.95,
        min_reviewed=5,
    )
    assert result.proposed is None  # 0.7 is 9/10 right as a whole, not 100 % for the first nine


@pytest.mark.django_db
def test_proposal_from_real_decisions_is_applied_and_audited(moderator, client):
    author = get_user_model().objects.create_user("author", password="x")
    uploads_in_review(40, uploader=author)  # frozen analyses, top scores 0.40 to 0.85
    # Moderators approve every item with the predicted label: the model was right.
    for upload in Upload.objects.filter(status=UploadStatus.IN_REVIEW).prefetch_related("predictions"):
        prediction = upload.predictions.get()
        DecisionFactory(upload=upload, moderator=moderator, prediction=prediction, label_after=prediction.label)
    proposals = {p.class_name: p for p in thresholds_propose(target_precision=0.9, min_reviewed=3)}
    proposed = [p for p in proposals.values() if p.proposed is not None]
    assert proposed, proposals
    for p in proposed:
        assert p.precision == 1.0 and p.proposed <= 1.0

    with pytest.raises(Forbidden):
        thresholds_apply(actor=moderator, proposals=list(proposals.values()))
    lead = get_user_model().objects.create_user("lead", password="lead-pass-1")
    lead.groups.add(Group.objects.get(name="leads"))
    lead = get_user_model().objects.get(pk=lead.pk)
    changed = thresholds_apply(actor=lead, proposals=list(proposals.values()))
    assert set(changed) == {p.class_name for p in proposed}
    for p in proposed:
        assert ClassPolicy.objects.get(class_name=p.class_name).approve_threshold == p.proposed
    event = AuditEvent.objects.get(action="thresholds.calibrated")
    assert event.actor == lead and set(event.data["changes"]) == set(changed)


@pytest.mark.django_db
def test_thresholds_page_is_for_leads(client, moderator):
    client.force_login(moderator)
    assert client.get("/lead/thresholds/").status_code == 403  # signed in without the role: the 403 page
    lead = get_user_model().objects.create_user("lead", password="lead-pass-1")
    lead.groups.add(Group.objects.get(name="leads"))
    client.force_login(lead)
    page = client.get("/lead/thresholds/").content.decode()
    assert "too few reviewed items" in page and "T-shirt/top" in page

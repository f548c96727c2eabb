from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from classifier.contracts import ImageAnalysis, ProductPrediction
from classifier.facade import FASHION_MNIST_CLASSES
from classifier.models import TrainingExample
from moderation import policy
from moderation.errors import Conflict, Forbidden, InvalidInput
from moderation.models import AuditEvent, ClassPolicy, Decision, Prediction, Upload, UploadStatus
from moderation.selectors import class_thresholds, flag_signals
from moderation.services.lifecycle import InvalidTransition, upload_transition
from moderation.services.review import review_decide
from moderation.services.uploads import (
    upload_classify,
    upload_create,
    upload_fail,
    uploads_requeue_stuck,
)
from tests.factories import analysis, classified, upload_in_review
from tests.helpers import fashion_png

pytestmark = pytest.mark.django_db


def _create(index=0, **kwargs) -> Upload:
    data, _ = fashion_png(index)
    return upload_create(data=data, filename=f"{index}.png", **kwargs)


def test_classify_stores_prediction_and_verdict_from_policy(active_model):
    upload = _create(5)
    upload_classify(upload_id=upload.pk)
    upload.refresh_from_db()
    prediction = upload.predictions.get()
    assert prediction.model_version == active_model
    assert set(prediction.scores) == set(active_model.class_names)
    assert sum(prediction.scores.values()) == pytest.approx(1.0, abs=1e-4)
    assert prediction.label == max(prediction.scores, key=prediction.scores.get)
    # Only the product model is active, so adult content and prohibited goods
    # cannot be checked: the policy sends the upload to a person.
    analysis = ImageAnalysis(
        product=ProductPrediction(prediction.label, prediction.score, prediction.scores),
        imagenet=None,
        adult=None,
        pdq_hash=upload.pdq_hash,
        pdq_quality=0,
    )
    signals, unchecked = flag_signals(analysis)
    expected = policy.decide(prediction.scores, class_thresholds(), signals=signals, unchecked=unchecked)
    assert upload.policy_verdict == expected.verdict == "review"
    assert unchecked and all("no active" in what for what in unchecked)
    assert upload.status in (UploadStatus.APPROVED, UploadStatus.IN_REVIEW, UploadStatus.REJECTED)
    assert upload.policy_explanation["reasons"] == list(expected.reasons)
    assert upload.policy_explanation["model_version"] == active_model.name
    assert AuditEvent.objects.filter(action="policy.verdict", target_id=str(upload.pk)).count() == 1


def test_classify_twice_leaves_one_prediction(active_model):
    upload = _create(1)
    upload_classify(upload_id=upload.pk)
    upload_classify(upload_id=upload.pk)
    assert Prediction.objects.filter(upload=upload).count() == 1
    assert AuditEvent.objects.filter(action="policy.verdict").count() == 1


def test_classify_after_a_crash_mid_task_finishes(active_model):
    upload = _create(2)
    Upload.objects.filter(pk=upload.pk).update(status=UploadStatus.PROCESSING, attempts=1)
    upload_classify(upload_id=upload.pk)
    upload.refresh_from_db()
    assert upload.status != UploadStatus.PROCESSING and upload.attempts == 2


def test_prohibited_class_is_rejected_with_a_flag(db):
    upload = _create(7)
    # Whatever the model says, mark every class prohibited from score 0.
    ClassPolicy.objects.all().update(prohibited=True, reject_threshold=0.0)
    scores = {name: (0.91 if name == "Bag" else 0.01) for name in FASHION_MNIST_CLASSES}
    upload = classified(upload, analysis(scores))
    assert upload.status == UploadStatus.REJECTED
    assert upload.flags.count() == 10
    assert all("prohibited class" in f.reason for f in upload.flags.all())
    # Each flag points at the product model's prediction it was raised on.
    product_row = upload.predictions.get(label="Bag")
    assert {f.prediction_id for f in upload.flags.all()} == {product_row.pk}


def test_an_upload_without_prohibited_class_flags_reads_no_prediction_back(db):
    """The product row is read back only for a prohibited-class flag to point at."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    upload = _create(7)
    with CaptureQueriesContext(connection) as queries:
        upload = classified(
            upload, analysis({name: (0.91 if name == "Bag" else 0.01) for name in FASHION_MNIST_CLASSES})
        )
    assert not upload.flags.exists()
    assert not [q for q in queries.captured_queries if q["sql"].startswith('SELECT "moderation_prediction"')]


def test_classify_ignores_missing_upload(db):
    assert upload_classify(upload_id="00000000-0000-0000-0000-000000000000") is None


def test_transitions_are_enforced():
    upload = Upload(status=UploadStatus.APPROVED)
    with pytest.raises(InvalidTransition):
        upload_transition(upload, UploadStatus.APPEALED)  # only a rejection is appealed
    with pytest.raises(InvalidTransition):
        upload_transition(upload, UploadStatus.PENDING)


def test_fail_keeps_reason(db):
    upload = _create(0)
    upload_fail(upload_id=upload.pk, reason="decoder exploded")
    upload.refresh_from_db()
    assert upload.status == UploadStatus.FAILED and upload.failure_reason == "decoder exploded"


def test_review_correction_becomes_training_example(moderator):
    upload = upload_in_review()
    predicted = upload.predictions.get().label
    other = next(name for name in upload.predictions.get().model_version.class_names if name != predicted)
    decision = review_decide(
        upload_id=upload.pk, moderator=moderator, verdict="approve", label=other, note="looks fine"
    )
    upload.refresh_from_db()
    assert upload.status == UploadStatus.APPROVED
    assert (decision.label_before, decision.label_after, decision.corrected) == (predicted, other, True)
    example = TrainingExample.objects.get(reference=f"upload:{upload.pk}")
    assert (example.label, example.source, example.image_name) == (other, "correction", upload.image.name)
    event = AuditEvent.objects.get(action="review.decided", target_id=str(upload.pk))
    assert event.actor == moderator
    assert event.data["label_before"] == predicted and event.data["label_after"] == other


def test_review_approval_confirms_predicted_label(moderator):
    upload = upload_in_review()
    review_decide(upload_id=upload.pk, moderator=moderator, verdict="approve")
    example = TrainingExample.objects.get()
    assert example.source == "confirmation" and example.label == upload.predictions.get().label


def test_review_reject_without_label_makes_no_example(moderator):
    upload = upload_in_review()
    decision = review_decide(upload_id=upload.pk, moderator=moderator, verdict="reject", reason_code="spam")
    assert decision.reason_code == "spam"
    assert not TrainingExample.objects.exists()
    upload.refresh_from_db()
    assert upload.status == UploadStatus.REJECTED


def test_review_rules(moderator):
    upload = upload_in_review()
    plain = get_user_model().objects.create_user("someone", password="x")
    with pytest.raises(Forbidden):
        review_decide(upload_id=upload.pk, moderator=plain, verdict="approve")
    with pytest.raises(InvalidInput):
        review_decide(upload_id=upload.pk, moderator=moderator, verdict="maybe")
    with pytest.raises(InvalidInput):
        review_decide(upload_id=upload.pk, moderator=moderator, verdict="approve", label="Spaceship")
    review_decide(upload_id=upload.pk, moderator=moderator, verdict="approve")
    with pytest.raises(Conflict):
        review_decide(upload_id=upload.pk, moderator=moderator, verdict="reject")
    assert Decision.objects.count() == 1


def test_sweeper_requeues_then_gives_up(db, django_capture_on_commit_callbacks):
    upload = _create(0)
    old = timezone.now() - timedelta(hours=1)
    Upload.objects.filter(pk=upload.pk).update(status=UploadStatus.PROCESSING, attempts=1, updated_at=old)
    with django_capture_on_commit_callbacks() as callbacks:
        assert uploads_requeue_stuck(older_than=timedelta(minutes=5), max_attempts=3) == {"requeued": 1, "failed": 0}
    assert len(callbacks) == 1
    upload.refresh_from_db()
    assert upload.status == UploadStatus.PENDING

    # Fresh uploads are left alone.
    assert uploads_requeue_stuck(older_than=timedelta(minutes=5), max_attempts=3) == {"requeued": 0, "failed": 0}

    Upload.objects.filter(pk=upload.pk).update(attempts=3, updated_at=old)
    assert uploads_requeue_stuck(older_than=timedelta(minutes=5), max_attempts=3) == {"requeued": 0, "failed": 1}
    upload.refresh_from_db()
    assert upload.status == UploadStatus.FAILED and "3 attempts" in upload.failure_reason


def test_among_approved_frames_the_worst_is_the_riskiest_not_the_least_confident_tag(db):
    """An animation's reported frame (its scores become the upload's) is the
    one with the highest adult-content score, whatever the product model's
    confidence on each frame."""
    from classifier.contracts import FrameAnalysis
    from moderation.services.frames import frames_judge

    # (product scores, adult score) per frame: the least confident tag is frame 0's.
    scores = [({"Bag": 0.30, "Coat": 0.01}, 0.019), ({"Bag": 0.99, "Coat": 0.01}, 0.031), ({"Bag": 0.60}, 0.010)]
    frames = [FrameAnalysis(i, i * 100, 100, False, 0.0, analysis(s, adult=a)) for i, (s, a) in enumerate(scores)]
    judgement = frames_judge(frames=frames, thresholds=class_thresholds(), flag_rules={})
    assert {v.result.verdict for v in judgement.frames} == {judgement.result.verdict}
    assert judgement.worst.frame.index == 1


def test_a_frame_the_open_set_gate_refuses_shows_no_product_tag(db):
    """The frame strip tells the truth the upload's page tells: out of
    distribution, the product model's best guess is not a tag."""
    from dataclasses import replace

    from django.template.loader import render_to_string

    from classifier.contracts import FrameAnalysis
    from moderation.services.frames import frames_judge, frames_record

    upload = upload_in_review()
    Upload.objects.filter(pk=upload.pk).update(frame_count=2)
    upload.refresh_from_db()
    shot, cup = analysis({"Bag": 0.98}), analysis({"Bag": 0.98})
    cup = replace(cup, product=replace(cup.product, in_distribution=False, ood_score=0.9, ood_threshold=0.5))
    frames = [FrameAnalysis(0, 0, 100, False, 0.0, shot), FrameAnalysis(1, 100, 100, False, 0.0, cup)]
    frames_record(upload=upload, judgement=frames_judge(frames=frames, thresholds=class_thresholds(), flag_rules={}))
    assert dict(upload.frames.values_list("index", "label")) == {0: "Bag", 1: ""}
    strip = render_to_string("moderation/_frame_strip.html", {"upload": upload, "frames": upload.frames.all()})
    assert strip.count("Bag 0.98") == 1 and "no product tag" in strip

"""End to end on real parts: API -> broker -> a Celery worker process ->
policy -> review page -> decision, audit and training-example rows."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.models import TrainingExample
from moderation import policy
from moderation.models import AuditEvent, ClassPolicy, Decision, FlagCategory, Upload, UploadStatus
from moderation.selectors import class_thresholds
from tests.conftest import wait_for
from tests.helpers import fashion_png

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

N = 20


def test_uploads_get_verdicts_from_a_real_worker_and_a_moderator_decides(
    celery_worker, active_model, partner_key, api_client, client, moderator
):
    # The adult-content check is part of the policy; no adult-content model
    # runs here, so it cannot run, and uploads that nothing rejects go to review.
    FlagCategory.objects.update_or_create(
        name="adult content",
        defaults={"kind": "adult", "review_threshold": 0.4, "reject_threshold": 0.85, "enabled": True},
    )
    # Thresholds that give this tiny model's scores a mix of verdicts.
    ClassPolicy.objects.update_or_create(class_name="Trouser", defaults={"prohibited": True, "reject_threshold": 0.5})
    for name in active_model.class_names:
        ClassPolicy.objects.get_or_create(class_name=name)
    ClassPolicy.objects.exclude(class_name="Trouser").update(approve_threshold=0.6)

    _, key = partner_key()
    ids = []
    for index in range(N):
        data, _ = fashion_png(index)
        response = api_client.post(
            "/api/v1/uploads/",
            {"image": SimpleUploadedFile(f"{index}.png", data), "external_id": f"fm-{index}"},
            format="multipart",
            HTTP_AUTHORIZATION=f"Api-Key {key}",
        )
        assert response.status_code == 202, response.content
        ids.append(response.json()["id"])

    settled = {UploadStatus.APPROVED, UploadStatus.REJECTED, UploadStatus.IN_REVIEW}
    done = wait_for(lambda: Upload.objects.filter(pk__in=ids, status__in=settled).count() == N, timeout=90)
    assert done, list(Upload.objects.filter(pk__in=ids).values_list("status", "failure_reason"))

    thresholds = class_thresholds()
    for upload in Upload.objects.filter(pk__in=ids).prefetch_related("predictions"):
        prediction = upload.predictions.get()
        assert prediction.model_version_id == active_model.pk
        # Only the product model runs: the risk checks it lacks send to review
        # what a prohibited class does not reject.
        unchecked = ["adult content and prohibited goods (no active models)"]
        assert upload.policy_verdict == policy.decide(prediction.scores, thresholds, unchecked=unchecked).verdict

    # The partner reads the verdict through the API.
    body = api_client.get(f"/api/v1/uploads/{ids[0]}/", HTTP_AUTHORIZATION=f"Api-Key {key}").json()
    assert body["status"] in settled and body["tags"] and body["model_version"]["id"] == active_model.pk

    # A moderator corrects one through the review page.
    Upload.objects.filter(pk=ids[-1]).update(status=UploadStatus.IN_REVIEW)
    target = Upload.objects.get(pk=ids[-1])
    predicted = target.predictions.get().label
    corrected = next(name for name in active_model.class_names if name != predicted)
    client.force_login(moderator)
    response = client.post(
        f"/review/{target.pk}/", {"verdict": "approve", "label": corrected, "reason_code": "", "note": "e2e"}
    )
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.status == UploadStatus.APPROVED
    decision = Decision.objects.get(upload=target)
    assert (decision.label_before, decision.label_after, decision.moderator) == (predicted, corrected, moderator)
    assert AuditEvent.objects.filter(action="review.decided", target_id=str(target.pk), actor=moderator).exists()
    assert TrainingExample.objects.filter(
        reference=f"upload:{target.pk}", label=corrected, source="correction"
    ).exists()


def _submit_and_wait(api_client, key, index):
    response = api_client.post(
        "/api/v1/uploads/",
        {"image": SimpleUploadedFile(f"{index}.png", fashion_png(index)[0])},
        format="multipart",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )
    upload_id = response.json()["id"]
    settled = {UploadStatus.APPROVED, UploadStatus.REJECTED, UploadStatus.IN_REVIEW}
    assert wait_for(lambda: Upload.objects.filter(pk=upload_id, status__in=settled).exists(), timeout=60)
    return Upload.objects.get(pk=upload_id).predictions.get()


def test_worker_picks_up_a_newly_active_version_without_restart(
    celery_worker, active_model, tiny_trained_model, partner_key, api_client
):
    from classifier.registry import model_version_activate, model_version_register

    _, key = partner_key()
    assert _submit_and_wait(api_client, key, 0).model_version_id == active_model.pk
    newer = model_version_activate(version=model_version_register(trained=tiny_trained_model))
    assert _submit_and_wait(api_client, key, 1).model_version_id == newer.pk


def test_colour_photo_through_the_api_gets_every_model_and_a_verdict(
    celery_worker, photo_models, partner_key, api_client
):
    from tests.conftest import skimage_jpeg

    _, key = partner_key()
    response = api_client.post(
        "/api/v1/uploads/",
        {"image": SimpleUploadedFile("coffee.jpg", skimage_jpeg("coffee"))},
        format="multipart",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )
    assert response.status_code == 202
    upload_id = response.json()["id"]
    settled = {UploadStatus.APPROVED, UploadStatus.REJECTED, UploadStatus.IN_REVIEW}
    assert wait_for(lambda: Upload.objects.filter(pk=upload_id, status__in=settled).exists(), timeout=90), (
        Upload.objects.filter(pk=upload_id).values_list("status", "failure_reason").first()
    )
    body = api_client.get(f"/api/v1/uploads/{upload_id}/", HTTP_AUTHORIZATION=f"Api-Key {key}").json()
    assert body["imagenet_tags"][0]["name"] == "espresso"
    assert body["adult_score"] < 0.1
    assert body["tags"] and body["tags"][0]["label"] in photo_models["product"].class_names
    assert body["status"] in settled

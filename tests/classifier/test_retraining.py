"""The retraining loop on tiny data: runs, the gate, rollback, examples flowing in."""

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from classifier.ml.datasets import FASHION_MNIST_CLASSES, load_split
from classifier.models import ModelVersionStatus, TrainingExample, TrainingRun, TrainingRunStatus
from classifier.registry import RegistryError, active_version, model_version_rollback
from classifier.retraining import (
    new_examples_count,
    retrain_if_due,
    training_run_execute,
    training_run_request,
)
from classifier.services import training_example_record
from moderation.models import AuditEvent
from tests.helpers import encode

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def small_runs(settings):
    settings.RETRAIN_BASE_SAMPLE = 600
    settings.RETRAIN_EPOCHS = 3
    settings.RETRAIN_MIN_NEW_EXAMPLES = 50
    settings.GATE_MIN_HOLDOUT = 10
    settings.GATE_BASE_MARGIN = 0.10
    settings.RETRAIN_HOLDOUT_PERCENT = 25


def add_examples(n: int, *, inverted: bool = True, shuffle_labels: bool = False, start: int = 1000):
    """Shop-photo-like examples (dark product on white) with moderators' labels."""
    split = load_split("train")
    classes = FASHION_MNIST_CLASSES
    rng = np.random.default_rng(7)
    labels = split.labels[start : start + n].copy()
    if shuffle_labels:
        # Make sure nearly every label is wrong, not just shuffled by chance.
        labels = (split.labels[start : start + n] + rng.integers(1, 10, n)) % 10
    for i in range(n):
        pixels = split.images[start + i]
        image = Image.fromarray(255 - pixels if inverted else pixels, "L")
        name = default_storage.save(f"examples/{start + i}.png", ContentFile(encode(image)))
        training_example_record(
            image_name=name, label=classes[int(labels[i])], corrected=True, reference=f"test:{start + i}"
        )


def test_holdout_share_is_fixed_and_reproducible():
    add_examples(80)
    held = set(TrainingExample.objects.filter(holdout=True).values_list("reference", flat=True))
    assert 8 <= len(held) <= 35  # ~25 % of 80
    # Re-recording an example (a second decision) never moves it across the line.
    example = TrainingExample.objects.first()
    training_example_record(image_name=example.image_name, label="Bag", corrected=True, reference=example.reference)
    assert set(TrainingExample.objects.filter(holdout=True).values_list("reference", flat=True)) == held


def test_better_candidate_is_promoted_and_audited(active_model):
    add_examples(160)
    assert new_examples_count() == TrainingExample.objects.filter(holdout=False).count()
    run = retrain_if_due(trigger="threshold")
    assert run is not None and run.status == TrainingRunStatus.SUCCEEDED, run.error if run else None
    candidate = run.candidate
    gate = candidate.gate
    assert gate["promote"] is True, gate
    assert gate["candidate_holdout"] > gate["active_holdout"]
    assert candidate.status == ModelVersionStatus.ACTIVE and run.promoted
    assert active_version() == candidate
    active_model.refresh_from_db()
    assert active_model.status == ModelVersionStatus.RETIRED
    # What it was trained on is recorded, and the held-out slice was not part of it.
    assert run.data["examples"] == TrainingExample.objects.filter(holdout=False).count()
    assert run.data["holdout"] == TrainingExample.objects.filter(holdout=True).count()
    assert candidate.training["corrections"] == run.data["corrections"]
    assert candidate.training["warm_start_from"] == active_model.pk
    assert run.timings["train"] > 0 and "gate: promote" in run.log
    events = AuditEvent.objects.filter(action="model_version.status")
    assert {(e.data["name"], e.data["to"]) for e in events} >= {
        (candidate.name, "active"),
        (active_model.name, "retired"),
    }
    # Nothing new since: the check does not start another run.
    assert new_examples_count() == 0
    assert retrain_if_due(trigger="threshold") is None
    # The next run's gate also measures the version the warm starts began from.
    assert candidate.training["warm_start_origin"] == active_model.pk
    assert gate["origin_base"] is None  # the active version was that one
    add_examples(20, start=6000)
    second = retrain_if_due(trigger="threshold", min_new=1).candidate
    assert second.training["warm_start_origin"] == active_model.pk
    assert second.gate["origin_name"] == active_model.name
    assert second.gate["origin_base"] == pytest.approx(gate["active_base"])  # the same version on the same set


def test_candidate_trained_on_shuffled_labels_is_rejected(active_model):
    add_examples(80)  # holdout labels are right
    TrainingExample.objects.filter(holdout=False).delete()
    add_examples(160, shuffle_labels=True, start=3000)
    TrainingExample.objects.filter(holdout=True, reference__startswith="test:3").delete()
    run = retrain_if_due(trigger="schedule", min_new=1)
    assert run.status == TrainingRunStatus.SUCCEEDED
    assert run.candidate.status == ModelVersionStatus.REJECTED and not run.promoted
    assert "gate:" in run.candidate.status_reason
    assert active_version() == active_model


def test_two_runs_never_overlap(active_model):
    first = training_run_request(trigger="manual")
    assert first is not None
    assert training_run_request(trigger="manual") is None
    TrainingRun.objects.filter(pk=first.pk).update(status=TrainingRunStatus.FAILED)
    assert training_run_request(trigger="manual") is not None


def test_run_without_active_version_fails_as_a_row(db):
    run = training_run_request(trigger="manual")
    run = training_run_execute(run_id=run.pk)
    assert run.status == TrainingRunStatus.FAILED and "no active version" in run.error
    assert training_run_execute(run_id=run.pk).status == TrainingRunStatus.FAILED  # idempotent


def test_corrections_flow_into_the_next_run(active_model):
    add_examples(60)
    first = retrain_if_due(trigger="threshold", min_new=1)
    trained_ids = TrainingExample.objects.filter(holdout=False).values_list("pk", flat=True)
    assert first.data["max_example_id"] == max(trained_ids)
    add_examples(20, start=5000)
    newest = TrainingExample.objects.filter(holdout=False).order_by("-pk").first()
    assert (
        new_examples_count()
        == TrainingExample.objects.filter(holdout=False, pk__gt=first.data["max_example_id"]).count()
        > 0
    )
    second = retrain_if_due(trigger="threshold", min_new=1)
    assert second.data["max_example_id"] == newest.pk
    assert (
        second.data["examples"]
        == first.data["examples"]
        + TrainingExample.objects.filter(holdout=False, reference__startswith="test:50").count()
    )


def test_rollback_restores_the_previous_version(active_model, tiny_trained_model):
    from classifier.registry import model_version_activate, model_version_register

    newer = model_version_activate(version=model_version_register(trained=tiny_trained_model))
    assert active_version() == newer
    restored = model_version_rollback()
    assert restored == active_model and active_version() == active_model
    newer.refresh_from_db()
    assert newer.status == ModelVersionStatus.RETIRED
    assert AuditEvent.objects.filter(action="model_version.status", data__reason__startswith="rollback").exists()


def test_rollback_without_history_is_refused(active_model):
    with pytest.raises(RegistryError):
        model_version_rollback()

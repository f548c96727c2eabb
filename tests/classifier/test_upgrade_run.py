"""A better product model out of the box: bootstrap queues one background run
of the stronger architecture, the run records its progress, the gate decides."""

import io
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from classifier.ml.gate import GateFigures, upgrade_decide
from classifier.models import ModelVersionStatus, TrainingRun, TrainingRunStatus, TrainingTrigger
from classifier.registry import active_version
from classifier.retraining import ABANDONED, training_run_execute, training_run_upgrade_queue

pytestmark = pytest.mark.django_db


def _figures(candidate, active, holdout=(None, None), size=0):
    return GateFigures(
        candidate_base=candidate,
        active_base=active,
        candidate_holdout=holdout[0],
        active_holdout=holdout[1],
        holdout_size=size,
        margin=0.01,
    )


def test_upgrade_gate_needs_a_better_base_score_and_no_loss_on_corrections():
    assert upgrade_decide(_figures(0.93, 0.90)).promote  # no held-out corrections needed on a fresh install
    assert not upgrade_decide(_figures(0.90, 0.90)).promote
    assert not upgrade_decide(_figures(0.93, 0.90, (0.70, 0.80), 30), min_holdout=20).promote
    assert upgrade_decide(_figures(0.93, 0.90, (0.85, 0.80), 30), min_holdout=20).promote
    assert upgrade_decide(_figures(0.93, 0.90, (0.10, 0.80), 5), min_holdout=20).promote  # too few to judge


def test_bootstrap_queues_the_upgrade_run_once(open_set_models, settings):
    settings.UPGRADE_ARCHITECTURE = "bn-cnn"
    call_command("bootstrap", stdout=io.StringIO())
    call_command("bootstrap", stdout=io.StringIO())
    runs = TrainingRun.objects.filter(trigger=TrainingTrigger.UPGRADE)
    assert runs.count() == 1
    run = runs.get()
    assert run.architecture == "bn-cnn" and run.status == TrainingRunStatus.QUEUED
    assert run.progress_display == "waiting for the training worker"
    # Finished (or failed), it is still not queued again on the next start.
    TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRunStatus.FAILED, error="ValueError()")
    call_command("bootstrap", stdout=io.StringIO())
    assert runs.count() == 1
    # Abandoned (the platform stopped while it trained, hours ago): queued again, once.
    TrainingRun.objects.filter(pk=run.pk).update(
        status=TrainingRunStatus.RUNNING, error="", created_at=timezone.now() - timedelta(hours=3)
    )
    call_command("bootstrap", stdout=io.StringIO())
    call_command("bootstrap", stdout=io.StringIO())
    assert runs.count() == 2 and runs.get(pk=run.pk).error == ABANDONED


def test_no_upgrade_when_the_active_model_has_that_architecture(active_model):
    assert training_run_upgrade_queue(architecture="seed-cnn") is None
    assert training_run_upgrade_queue(architecture="") is None
    assert not TrainingRun.objects.exists()


def test_upgrade_run_trains_from_scratch_records_progress_and_is_gated(active_model, settings, client):
    settings.UPGRADE_BASE_EXAMPLES = 300
    settings.UPGRADE_EPOCHS = 1
    settings.GATE_TEST_LIMIT = 100
    run = training_run_upgrade_queue(architecture="bn-cnn")
    run = training_run_execute(run_id=run.pk)
    assert run.status == TrainingRunStatus.SUCCEEDED, run.error
    assert run.progress["epoch"] == 1 and run.progress["epochs"] == 1 and run.progress["seconds"] > 0
    assert run.progress_display.startswith("epoch 1 of 1, 0 min")
    candidate = run.candidate
    assert candidate.architecture == "bn-cnn" and candidate.training["warm_start_from"] is None
    assert run.data["base_examples"] == 300
    # One epoch on 300 images: the gate compares it on the base split, and says why.
    assert "base test" in candidate.status_reason
    assert (candidate.status == ModelVersionStatus.ACTIVE) == run.promoted
    assert active_version() == (candidate if run.promoted else active_model)

    lead = get_user_model().objects.create_superuser("lead", "lead@example.com", "lead-pass-1")
    client.force_login(lead)
    page = client.get("/lead/metrics/").content.decode()
    assert "Stronger architecture after bootstrap" in page and "epoch 1 of 1" in page and "bn-cnn" in page
    admin = client.get("/admin/classifier/trainingrun/").content.decode()
    assert "epoch 1 of 1" in admin


def test_training_has_its_own_niced_worker_one_task_at_a_time(settings):
    from moderation.management.commands.run_platform import platform_commands

    commands = platform_commands(bind="127.0.0.1:8000", web_workers=2, concurrency=2)
    worker, worker_nice = commands["worker"]
    trainer, trainer_nice = commands["trainer"]
    assert worker[worker.index("--queues") + 1] == settings.CELERY_TASK_DEFAULT_QUEUE and worker_nice == 0
    assert trainer[trainer.index("--queues") + 1] == settings.CELERY_TRAINING_QUEUE
    assert trainer[trainer.index("--concurrency") + 1] == "1" and trainer_nice == settings.TRAINING_WORKER_NICENESS > 0

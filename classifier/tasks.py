"""Training tasks. They go to their own queue (`training`), so a long run never
sits in front of uploads; TensorFlow is imported only when a run trains."""

from celery import shared_task

from classifier.models import PRODUCT_TAG_ROLES, ModelRole, TrainingTrigger
from classifier.open_set import open_set_gate_install
from classifier.registry import active_version
from classifier.retraining import retrain_if_due, training_run_execute, training_runs_start_queued


@shared_task(name="classifier.retrain_check", acks_late=True)
def retrain_check() -> int | None:
    """Every few minutes: run a queued run whose message was lost, then train
    when enough new examples have arrived."""
    training_runs_start_queued()
    runs = [retrain_if_due(trigger=TrainingTrigger.THRESHOLD, role=role) for role in PRODUCT_TAG_ROLES]
    _refit_open_set_gate(runs)
    return next((run.pk for run in runs if run), None)


@shared_task(name="classifier.retrain_scheduled", acks_late=True)
def retrain_scheduled() -> int | None:
    """At the scheduled time: train if any new example arrived."""
    runs = [retrain_if_due(trigger=TrainingTrigger.SCHEDULE, min_new=1, role=role) for role in PRODUCT_TAG_ROLES]
    _refit_open_set_gate(runs)
    return next((run.pk for run in runs if run), None)


def _refit_open_set_gate(runs) -> None:
    """A studio-shot model promoted on moderators' labels: the open-set gate's
    centres take those labelled uploads in too (a minute or two of backbone
    passes, on the training queue)."""
    if any(run and run.promoted and run.role == ModelRole.PRODUCT for run in runs) and active_version(
        ModelRole.OPEN_SET
    ):
        open_set_gate_install(force=True)


@shared_task(name="classifier.run_training", acks_late=True)
def run_training(run_id: int) -> None:
    training_run_execute(run_id=run_id)

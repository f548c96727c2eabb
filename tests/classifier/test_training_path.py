"""One training path: a baseline (`product_model_train`: the train_classifier
command, bootstrap, the benchmarks) is a manual TrainingRun executed by
`training_run_execute`, like a scheduled retraining."""

from __future__ import annotations

import pytest

from classifier.ml.datasets import DatasetNotFound
from classifier.models import ModelRole, TrainingRun, TrainingRunStatus, TrainingTrigger
from classifier.retraining import TrainingBusy, new_examples_count, product_model_train

pytestmark = pytest.mark.django_db


@pytest.mark.tf
def test_a_baseline_is_a_manual_run_recorded_like_every_other():
    version = product_model_train(epochs=1, train_limit=300, test_limit=100, activate="always", progress=False)
    run = TrainingRun.objects.get()
    assert run.trigger == TrainingTrigger.MANUAL and run.status == TrainingRunStatus.SUCCEEDED
    assert run.candidate == version and run.promoted and version.status == "active"
    assert version.training["run"] == run.pk and run.data["base_examples"] == 300
    assert run.progress["epoch"] == 1 and "train" in run.timings and "from scratch" in run.log
    assert new_examples_count() == 0  # the next retraining counts examples from where this one left off


def test_a_baseline_never_overlaps_another_run():
    queued = TrainingRun.objects.create(role=ModelRole.PRODUCT, trigger=TrainingTrigger.THRESHOLD)
    with pytest.raises(TrainingBusy, match=f"run {queued.pk}"):
        product_model_train(epochs=1, progress=False)
    assert list(TrainingRun.objects.all()) == [queued]


def test_a_baseline_without_its_data_set_fails_loudly_and_on_record(monkeypatch, tmp_path):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path))  # an empty folder
    with pytest.raises(DatasetNotFound):
        product_model_train(epochs=1, progress=False)
    run = TrainingRun.objects.get()
    assert run.status == TrainingRunStatus.FAILED and "DatasetNotFound" in run.error and run.finished_at

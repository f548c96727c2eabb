import pytest
from django.db import IntegrityError, transaction

from classifier.contracts import NoActiveModel
from classifier.inference import classify_product, forget_loaded_models, loaded_model
from classifier.models import ModelVersion, ModelVersionStatus
from classifier.registry import active_version, model_version_activate, model_version_register
from tests.helpers import fashion_png

pytestmark = pytest.mark.django_db


def test_registered_version_keeps_artifacts_and_metrics(tiny_trained_model):
    version = model_version_register(trained=tiny_trained_model, training_info={"base_examples": 600})
    assert version.status == ModelVersionStatus.CANDIDATE
    assert version.artifact.read()[:8] == tiny_trained_model.tflite_bytes[:8]
    assert 0.0 < version.metrics["accuracy"] <= 1.0
    assert set(version.metrics["per_class"]) == set(version.class_names)
    assert version.training["base_examples"] == 600


def test_one_active_version_per_role(tiny_trained_model):
    first = model_version_activate(version=model_version_register(trained=tiny_trained_model))
    second = model_version_activate(version=model_version_register(trained=tiny_trained_model))
    first.refresh_from_db()
    assert first.status == ModelVersionStatus.RETIRED
    assert active_version() == second
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=first.pk).update(status=ModelVersionStatus.ACTIVE)


def test_no_active_model_is_a_clear_error():
    forget_loaded_models()
    with pytest.raises(NoActiveModel, match="bootstrap"):
        classify_product(fashion_png(0)[0])


def test_inference_follows_the_active_version(tiny_trained_model, settings):
    settings.CLASSIFIER_VERSION_CHECK_SECONDS = 0
    forget_loaded_models()
    first = model_version_activate(version=model_version_register(trained=tiny_trained_model))
    result = classify_product(fashion_png(0)[0])
    assert result.model_version_id == first.pk
    second = model_version_activate(version=model_version_register(trained=tiny_trained_model))
    assert classify_product(fashion_png(0)[0]).model_version_id == second.pk
    assert loaded_model().version_id == second.pk


def test_version_check_is_rate_limited(tiny_trained_model, settings, django_assert_num_queries):
    settings.CLASSIFIER_VERSION_CHECK_SECONDS = 3600
    forget_loaded_models()
    model_version_activate(version=model_version_register(trained=tiny_trained_model))
    classify_product(fashion_png(0)[0])  # loads
    with django_assert_num_queries(0):
        for i in range(5):
            classify_product(fashion_png(i)[0])

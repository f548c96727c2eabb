"""The product head on backbone embeddings: trained, gated against the CNN on
the same evaluation set, served, explained."""

import numpy as np
import pytest
from django.core.files.storage import default_storage

from classifier.inference import analyze, product_heatmap
from classifier.inputs import fashion_embeddings
from classifier.models import ModelVersionStatus
from classifier.registry import active_version
from classifier.retraining import product_model_train
from tests.conftest import skimage_jpeg

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def small(settings):
    settings.HEAD_BASE_EXAMPLES = 300
    settings.GATE_TEST_LIMIT = 100
    settings.GATE_MIN_HOLDOUT = 0


def test_embeddings_are_cached_per_backbone_version(photo_models):
    first = fashion_embeddings("test", 40)
    name = f"embeddings/backbone-v{photo_models['backbone'].pk}/fashion-test.npy"
    assert default_storage.exists(name)
    assert np.array_equal(fashion_embeddings("test", 20), first[:20])
    assert first.shape == (40, 1280) and np.isfinite(first).all()


def test_head_is_gated_against_the_cnn_on_the_same_set(photo_models):
    cnn = photo_models["product"]
    head = product_model_train(architecture="lite0-head", epochs=5, test_limit=100, activate="gate", progress=False)
    gate = head.gate
    assert head.architecture == "lite0-head" and head.status in (ModelVersionStatus.ACTIVE, ModelVersionStatus.REJECTED)
    assert {"candidate_base", "active_base", "reason"} <= set(gate)
    # Too few held-out corrections here: the gate must refuse rather than guess.
    assert gate["promote"] is False and "held-out" in gate["reason"]
    assert active_version() == cnn


def test_head_serves_and_explains_photos(photo_models):
    head = product_model_train(architecture="lite0-head", epochs=5, test_limit=100, activate="always", progress=False)
    result = analyze(skimage_jpeg("coffee"))
    assert result.product.model_version_id == head.pk
    assert set(result.product.scores) == set(head.class_names)
    assert result.imagenet.top[0][1] == "espresso"
    png = product_heatmap(skimage_jpeg("coffee"), version_id=head.pk, label=result.product.label)
    assert png.startswith(b"\x89PNG")


def test_naive_inference_settings_give_the_same_answers(photo_models, settings):
    """bench.pipeline's naive configuration (models loaded by every call, full-size
    decoding) must do the same work, only slower."""
    from classifier import inference

    image = skimage_jpeg("coffee")
    served = analyze(image)
    settings.INFERENCE_CACHE_MODELS = False
    settings.INFERENCE_REDUCED_DECODE = False
    inference.forget_loaded_models()
    naive = analyze(image)
    assert not inference._cache._loaded  # nothing kept between calls
    assert naive.product.label == served.product.label
    assert naive.imagenet.top[0][1] == served.imagenet.top[0][1] == "espresso"
    assert abs(naive.adult.score - served.adult.score) < 0.05
    assert naive.product.model_version_id == served.product.model_version_id

"""The open-set gate: product shots keep their label, real photos get none."""

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from classifier.inference import analyze, forget_loaded_models
from classifier.inputs import embed_images
from classifier.ml.datasets import fashion_photo, load_split
from classifier.ml.open_set import FALLBACK_MARGIN, OpenSetGate, calibrate, class_centres
from classifier.ml.preprocessing import open_image
from classifier.models import ModelRole, ModelVersionStatus, TrainingExample
from classifier.open_set import open_set_gate_install
from classifier.registry import active_version
from tests.conftest import activate_open_set_gate, skimage_jpeg
from tests.helpers import encode

REAL_PHOTOS = ("coffee", "chelsea", "text")


def test_calibration_puts_the_threshold_in_the_gap():
    threshold, figures = calibrate({"pos": np.linspace(0.1, 0.3, 1001)}, {"neg": np.array([0.5, 0.7])})
    assert threshold == pytest.approx((np.quantile(np.linspace(0.1, 0.3, 1001), 0.999) + 0.5) / 2)
    assert figures["true_positive_rate"] >= 0.999 and figures["false_positive_rate"] == 0.0
    assert figures["negatives"]["neg"] == {"n": 2, "out": 1.0, "min": 0.5}


def test_calibration_keeps_the_positives_when_the_classes_overlap():
    threshold, figures = calibrate({"pos": np.linspace(0.1, 0.6, 1001)}, {"neg": np.array([0.4, 0.8])})
    assert threshold == pytest.approx(np.quantile(np.linspace(0.1, 0.6, 1001), 0.999))
    assert figures["false_positive_rate"] == 0.5 and "overlap" in figures["rule"]


def test_calibration_without_negatives_adds_the_measured_margin():
    threshold, figures = calibrate({"pos": np.array([0.2, 0.3])}, {})
    assert threshold == pytest.approx(np.quantile([0.2, 0.3], 0.999) + FALLBACK_MARGIN)
    assert figures["false_positive_rate"] is None


def test_gate_scores_by_the_nearest_centre_and_survives_storage():
    embeddings = np.array([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0], [0.1, 3.0]])
    centres = class_centres(embeddings, np.array([0, 0, 1, 1]), 2)
    gate = OpenSetGate(centres, 0.1, backbone_version_id=7)
    scores = gate.scores(np.array([[5.0, 0.0], [1.0, 1.0], [-1.0, 0.0]]))
    assert scores[0] < 0.01 and 0.25 < scores[1] < 0.35 and scores[2] > 1.0
    stored = OpenSetGate.from_bytes(gate.to_bytes())
    assert stored.threshold == 0.1 and stored.backbone_version_id == 7 and np.allclose(stored.centres, centres)
    with pytest.raises(ValueError, match="classes"):
        class_centres(embeddings, np.array([0, 0, 0, 0]), 2)


def _fashion_uploads(count: int = 4):
    test = load_split("test")
    for i in range(count):
        yield encode(Image.fromarray(test.images[i])), encode(fashion_photo(test.images[i], 256), "JPEG", quality=90)


@pytest.mark.django_db
def test_fashion_images_keep_their_label_both_raw_and_rendered(photo_models, open_set_gate_artifact):
    ungated = [(analyze(raw).product.label, analyze(rendered).product.label) for raw, rendered in _fashion_uploads()]
    gate = activate_open_set_gate(photo_models, open_set_gate_artifact)
    for (raw, rendered), labels in zip(_fashion_uploads(), ungated, strict=True):
        for data, label in zip((raw, rendered), labels, strict=True):
            product = analyze(data).product
            assert product.in_distribution, product
            assert product.ood_score <= product.ood_threshold == pytest.approx(gate.metrics["threshold"], abs=1e-4)
            assert product.label == label and product.tags(1) == [(label, product.score)]
            assert product.open_set()["model_version_id"] == gate.pk


@pytest.mark.django_db
@pytest.mark.parametrize("name", REAL_PHOTOS)
def test_real_photos_are_out_of_distribution_with_no_tags(open_set_models, name):
    product = analyze(skimage_jpeg(name)).product
    assert not product.in_distribution
    assert product.ood_score > product.ood_threshold
    assert product.tags(5) == [] and product.top(1)  # the model's guess is kept, never shown
    assert product.open_set()["in_distribution"] is False and product.ood_method == "cosine-centres"


@pytest.mark.django_db
def test_a_gate_fitted_on_another_backbone_is_not_applied(open_set_models):
    from classifier.registry import model_version_activate, model_version_create

    backbone = open_set_models["backbone"]
    with backbone.artifact.open("rb") as fh:
        newer = model_version_activate(
            version=model_version_create(
                role=ModelRole.IMAGENET,
                architecture=backbone.architecture,
                class_names=backbone.class_names,
                artifact=fh.read(),
            )
        )
    forget_loaded_models()
    product = analyze(skimage_jpeg("coffee")).product
    assert newer.status == ModelVersionStatus.ACTIVE
    assert product.in_distribution and product.ood_score is None and product.tags(1)


@pytest.mark.django_db
def test_install_fits_calibrates_and_activates_once_per_backbone(photo_models, client):
    gate = open_set_gate_install(fit_examples=30, calibration_examples=10, negative_photos=2)
    assert gate.status == ModelVersionStatus.ACTIVE and active_version(ModelRole.OPEN_SET) == gate
    assert gate.training["backbone_version"] == photo_models["backbone"].pk
    figures = gate.metrics
    assert set(figures["positives"]) == {"Fashion-MNIST 28 px", "Fashion-MNIST rendered 256 px"}
    assert figures["positives"]["Fashion-MNIST 28 px"]["n"] == 10 and gate.training["calibration_negatives"] >= 2
    assert figures["threshold"] > figures["positive_edge"]
    assert open_set_gate_install() == gate  # the same backbone: nothing to refit
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "root-pass-1"))
    page = client.get(f"/admin/classifier/modelversion/{gate.pk}/change/").content.decode()
    assert f"threshold {figures['threshold']}" in page and "of real photos" in page


@pytest.mark.django_db
def test_the_centres_take_in_the_moderators_labelled_uploads(photo_models):
    """A labelled upload of the studio-shot model (here a dark-on-white shop
    photo of a Fashion-MNIST bag) moves its class's centre towards it; the
    held-out ones and the real-photo model's labels do not count."""

    plain = open_set_gate_install(fit_examples=30, calibration_examples=10, negative_photos=2)
    test = load_split("test")
    bags = [i for i in range(len(test)) if test.labels[i] == 8][:6]
    for n, i in enumerate(bags):
        name = default_storage.save(f"examples/bag-{n}.png", ContentFile(encode(Image.fromarray(255 - test.images[i]))))
        role = ModelRole.PRODUCT if n < 4 else ModelRole.PRODUCT_PHOTO
        TrainingExample.objects.create(
            image_name=name, label="Bag", source="correction", reference=f"bag:{n}", holdout=n == 3, role=role
        )
    taught = open_set_gate_install(force=True, fit_examples=30, calibration_examples=10, negative_photos=2)
    assert taught.training["moderator_examples"] == 3
    before, after = (OpenSetGate.from_bytes(v.artifact.open("rb").read()) for v in (plain, taught))
    shop_bag = encode(Image.fromarray(255 - test.images[bags[0]]))

    embedding = embed_images([open_image(shop_bag)])
    assert after.scores(embedding)[0] < before.scores(embedding)[0]

"""The real-photo product model in the platform: routed to by the open-set
gate, trained on the shipped photos and moderators' labels, gated like the
studio-shot model. Real backbone, real photos."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from bench.real_products import DATA
from classifier.inference import analyze, forget_loaded_models
from classifier.ml.datasets import load_split
from classifier.ml.photo_products import CLASS_NAMES, NO_PRODUCT
from classifier.models import ModelRole, TrainingExample, TrainingRun
from classifier.registry import active_version, model_version_rollback
from classifier.retraining import photo_model_install, retrain_if_due
from tests.conftest import ROOT

SNEAKER = DATA / "sneaker" / "dreambooth_colorful_sneaker_01.jpg"
DOG = ROOT / "tests" / "data" / "photos" / "dog-00.jpg"
BLAZERS = sorted((ROOT / "bench" / "data" / "feedback_photos" / "blazer").glob("*.jpg"))


def test_a_real_sneaker_photo_is_tagged_by_the_real_photo_model(real_photo_models):
    analysis = analyze(SNEAKER.read_bytes())
    product = analysis.product
    assert product.route == "photo"
    assert product.model_version_id == real_photo_models["photo"].pk
    assert product.tags(1)[0][0] == "Sneaker"
    # The studio model's guess is kept, out of distribution, never a tag.
    assert analysis.studio_product is not None and not analysis.studio_product.in_distribution
    assert product.open_set()["route"] == "photo" and product.open_set()["product_mass"] > 0.2


def test_a_dog_gets_no_product_tag_and_the_reason(real_photo_models):
    product = analyze(DOG.read_bytes()).product
    assert product.route == "photo" and not product.in_distribution
    assert product.tags() == []
    assert product.reason.startswith("no product shown")
    assert product.open_set()["reason"] == product.reason


def test_a_studio_shot_stays_with_the_fashion_mnist_model(real_photo_models):
    buffer = io.BytesIO()
    Image.fromarray(load_split("test").images[400]).save(buffer, format="PNG")
    analysis = analyze(buffer.getvalue())
    assert analysis.product.route == "studio" and analysis.product.in_distribution
    assert analysis.product.model_version_id == real_photo_models["product"].pk
    assert analysis.studio_product is None


def test_install_trains_once_per_backbone(real_photo_models):
    assert photo_model_install() == real_photo_models["photo"]
    version = real_photo_models["photo"]
    assert version.metrics["test_examples"] > 0 and version.training["backbone_version"]
    assert version.class_names == list(CLASS_NAMES)


def _examples(paths, labels, *, holdout):
    for i, (path, label) in enumerate(zip(paths, labels, strict=True)):
        name = default_storage.save(f"examples/{path.name}", ContentFile(path.read_bytes()))
        TrainingExample.objects.create(
            image_name=name,
            label=label,
            source="correction",
            reference=f"test:{holdout}:{path.name}:{i}",
            holdout=holdout,
            role=ModelRole.PRODUCT_PHOTO,
        )


@pytest.fixture
def small_gate(settings):
    """A gate for a test's few examples: 5 held-out labels suffice, and with 3
    shipped photos of each kind, one base test photo is 1.5 points."""
    settings.PHOTO_GATE_MIN_HOLDOUT = 5
    settings.PHOTO_GATE_BASE_MARGIN = 0.05


def test_moderator_labels_teach_a_kind_and_the_gate_promotes_it(real_photo_models, small_gate):
    """Blazers, which no shipped photo shows, are not a "Suit" to the model;
    after moderators label some of them, the retrained model says so of
    blazers it never saw, and the gate promoted it on the held-out labels."""
    before = real_photo_models["photo"]
    unseen = BLAZERS[:6]
    assert sum(analyze(p.read_bytes()).product.label == "Suit" for p in unseen) <= 2
    _examples(BLAZERS[6:36], ["Suit"] * 30, holdout=False)
    _examples(BLAZERS[36:46], ["Suit"] * 10, holdout=True)
    run = retrain_if_due(trigger="manual", min_new=1, role=ModelRole.PRODUCT_PHOTO)
    assert run is not None and run.status == "succeeded", run and run.error
    assert run.promoted, run.candidate.gate
    assert run.candidate.gate["candidate_holdout"] > run.candidate.gate["active_holdout"]
    assert active_version(ModelRole.PRODUCT_PHOTO) == run.candidate != before
    forget_loaded_models()
    assert sum(analyze(p.read_bytes()).product.label == "Suit" for p in unseen) >= 4
    # One click back.
    assert model_version_rollback(role=ModelRole.PRODUCT_PHOTO) == before


def test_shuffled_labels_are_refused_by_the_gate(real_photo_models, small_gate):
    rng = np.random.default_rng(0)
    products = [name for name in CLASS_NAMES if name != NO_PRODUCT]
    photos = sorted(p for p in DATA.rglob("*.jpg"))[::9][:40]
    _examples(photos[:30], [products[i] for i in rng.integers(0, len(products), 30)], holdout=False)
    _examples(photos[30:], [products[i] for i in rng.integers(0, len(products), 10)], holdout=True)
    run = retrain_if_due(trigger="manual", min_new=1, role=ModelRole.PRODUCT_PHOTO)
    assert run.status == "succeeded" and not run.promoted
    assert run.candidate.status == "rejected"
    assert active_version(ModelRole.PRODUCT_PHOTO) == real_photo_models["photo"]
    assert TrainingRun.objects.filter(role=ModelRole.PRODUCT_PHOTO).count() == 2


def test_the_heat_map_of_a_real_photo_tag_comes_from_the_real_photo_model(real_photo_models):
    from classifier.inference import product_heatmap

    png = product_heatmap(SNEAKER.read_bytes(), version_id=real_photo_models["photo"].pk, label="Sneaker")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and min(image.size) > 100

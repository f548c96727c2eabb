"""int8 versions of the pretrained photo models: they load, agree with the float
models on real photos within stated tolerances, install registers them beside
the float ones, and INFERENCE_INT8 picks which one serves."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from classifier.ml.nsfw import AdultScorer, model_bytes
from classifier.ml.preprocessing import photo_input
from classifier.ml.quantize import adult_decisions, adult_fidelity, calibration_images, quantize_open_nsfw
from classifier.ml.runtime import LiteModel

PHOTOS = ["coffee", "chelsea", "astronaut", "rocket", "hubble_deep_field", "retina"]
REFERENCE = next(
    (
        folder / "shared" / "reference" / "efficientnet_lite0"
        for folder in Path(__file__).resolve().parents
        if (folder / "shared" / "reference" / "efficientnet_lite0" / "reference.json").exists()
    ),
    None,
)
# Tolerances, from what the int8 models do on the photos here (bench.quantized
# measures them on 1,000 images): Open-NSFW scores within 0.05, Lite0's
# probabilities within 0.15 and its embedding nearly parallel.
ADULT_TOLERANCE = 0.05
TAGGER_TOLERANCE = 0.15
EMBEDDING_COSINE = 0.95


def _photos() -> list[Image.Image]:
    return [Image.fromarray(getattr(data, name)()).convert("RGB") for name in PHOTOS]


@pytest.fixture(scope="session")
def int8_open_nsfw() -> bytes:
    return quantize_open_nsfw(model_bytes(), calibration=calibration_images(16), quant_format="qoperator")


@pytest.fixture(scope="session")
def int8_lite0() -> bytes:
    from classifier.ml.efficientnet_lite import load_pretrained
    from classifier.ml.quantize import quantize_lite0

    return quantize_lite0(load_pretrained(), calibration=calibration_images(16))


@pytest.mark.tf  # quantizes or loads a real model
def test_int8_open_nsfw_scores_photos_like_the_float_model(int8_open_nsfw):
    photos = _photos()
    float_scores = AdultScorer(model_bytes()).score_images(photos)
    int8_scores = AdultScorer(int8_open_nsfw).score_images(photos)
    assert len(int8_open_nsfw) < len(model_bytes()) / 3  # int8 weights
    assert np.abs(float_scores - int8_scores).max() <= ADULT_TOLERANCE, (float_scores, int8_scores)
    assert (adult_decisions(float_scores) == adult_decisions(int8_scores)).all()


def test_adult_decisions_follow_the_thresholds_in_use():
    scores = np.array([0.0, 0.39, 0.4, 0.84, 0.85, 1.0])
    assert adult_decisions(scores).tolist() == [0, 0, 1, 1, 2, 2]
    fidelity = adult_fidelity(scores, np.array([0.0, 0.41, 0.4, 0.86, 0.85, 0.99]))
    assert fidelity.disagreements == 2 and fidelity.decision_agreement == pytest.approx(4 / 6)
    assert fidelity.max_abs_diff == pytest.approx(0.02) and fidelity.float_decisions == {
        "approve": 2,
        "review": 2,
        "reject": 2,
    }


def test_int8_lite0_tags_photos_like_the_float_model(int8_lite0, photo_model_artifacts):
    batch = np.stack([photo_input(image) for image in _photos()])
    float_model, int8_model = LiteModel(photo_model_artifacts["backbone"]), LiteModel(int8_lite0)
    float_out, int8_out = float_model.predict_all(batch), int8_model.predict_all(batch)
    float_probs, int8_probs = float_model.output_by_width(float_out, 1000), int8_model.output_by_width(int8_out, 1000)
    float_emb, int8_emb = float_model.output_by_width(float_out, 1280), int8_model.output_by_width(int8_out, 1280)
    assert len(int8_lite0) < len(photo_model_artifacts["backbone"]) / 2
    assert np.abs(float_probs - int8_probs).max() <= TAGGER_TOLERANCE
    cosine = (float_emb * int8_emb).sum(1) / np.linalg.norm(float_emb, axis=1) / np.linalg.norm(int8_emb, axis=1)
    assert (cosine >= EMBEDDING_COSINE).all(), cosine
    # Each photo's float top 1 stays among the int8 model's top 5.
    for top1, row in zip(float_probs.argmax(1), int8_probs, strict=True):
        assert top1 in np.argsort(-row)[:5]


@pytest.mark.tf  # quantizes or loads a real model
@pytest.mark.skipif(REFERENCE is None, reason="shared reference files not present")
def test_int8_lite0_keeps_the_reference_top_class(int8_lite0):
    from classifier.ml.efficientnet_lite import scale_input

    runtime = LiteModel(int8_lite0)
    for name, expected in json.loads((REFERENCE / "reference.json").read_text())["images"].items():
        x = scale_input(np.asarray(Image.open(REFERENCE / name).convert("RGB")))[np.newaxis]
        probs = runtime.output_by_width(runtime.predict_all(x), 1000)[0]
        top5 = [t["index"] for t in expected["top5"]]
        assert expected["top5"][0]["index"] in np.argsort(-probs)[:5], name
        for t in expected["top5"]:
            assert abs(float(probs[t["index"]]) - t["prob"]) <= TAGGER_TOLERANCE, (name, t)
        assert len(set(np.argsort(-probs)[:5]) & set(top5)) >= 3, name


# --- Registration and the setting ---------------------------------------------

FEW = {"calibration_images": 8, "fidelity_images": 4}


def _versions(role):
    from classifier.models import ModelVersion

    return {v.architecture: v for v in ModelVersion.objects.filter(role=role)}


def test_install_registers_float_and_int8_adult_models_and_the_setting_picks(active_model, settings):
    from classifier.inference import analyze, forget_loaded_models
    from classifier.models import ModelRole, ModelVersionStatus
    from classifier.registry import model_version_rollback
    from classifier.services import adult_model_install
    from tests.conftest import skimage_jpeg

    settings.INFERENCE_INT8 = "adult"
    served = adult_model_install(**FEW)
    versions = _versions(ModelRole.ADULT)
    assert set(versions) == {"open-nsfw", "open-nsfw-int8"}
    assert served.pk == versions["open-nsfw-int8"].pk and served.status == ModelVersionStatus.ACTIVE
    figures = served.metrics["fidelity_vs_float"]
    # Four photos and the same four in skin tones.
    assert figures["images"] == 8 and 0 <= figures["decision_agreement"] <= 1 and figures["max_abs_diff"] < 1
    assert "QOperator" in served.training["quantization"]

    forget_loaded_models()
    assert analyze(skimage_jpeg("chelsea")).adult.model_version_id == served.pk
    # Installing again changes nothing; rolling back serves the float model.
    assert adult_model_install(**FEW).pk == served.pk and len(_versions(ModelRole.ADULT)) == 2
    assert model_version_rollback(role=ModelRole.ADULT).pk == versions["open-nsfw"].pk
    forget_loaded_models()
    assert analyze(skimage_jpeg("chelsea")).adult.model_version_id == versions["open-nsfw"].pk

    settings.INFERENCE_INT8 = "0"
    forced = adult_model_install(force=True, **FEW)
    assert forced.architecture == "open-nsfw" and forced.pk not in {v.pk for v in versions.values()}
    forget_loaded_models()


@pytest.mark.tf  # quantizes or loads a real model
def test_install_adds_int8_to_an_installation_that_served_float(db, settings):
    from classifier.models import ModelRole
    from classifier.registry import model_version_activate, model_version_create
    from classifier.services import adult_model_install

    old = model_version_activate(
        version=model_version_create(
            role=ModelRole.ADULT,
            architecture="open-nsfw",
            class_names=["safe", "adult"],
            artifact=model_bytes(),
            artifact_name="model.onnx",
        )
    )
    settings.INFERENCE_INT8 = "1"
    served = adult_model_install(**FEW)
    assert served.architecture == "open-nsfw-int8"
    old.refresh_from_db()
    assert old.status == "retired" and len(_versions(ModelRole.ADULT)) == 2


def test_int8_roles_setting(settings):
    from classifier.services import int8_roles

    for raw, roles in (
        ("1", {"adult", "imagenet"}),
        ("0", set()),
        ("", set()),
        ("adult", {"adult"}),
        ("imagenet, adult", {"adult", "imagenet"}),
    ):
        settings.INFERENCE_INT8 = raw
        assert int8_roles() == roles


@pytest.mark.tf  # quantizes or loads a real model
def test_install_registers_float_and_int8_backbones(db, settings):
    from classifier.models import ModelRole
    from classifier.services import backbone_install

    settings.INFERENCE_INT8 = "imagenet"
    served = backbone_install(**FEW)
    versions = _versions(ModelRole.IMAGENET)
    assert set(versions) == {"efficientnet-lite0", "efficientnet-lite0-int8"}
    assert served.architecture == "efficientnet-lite0-int8" and served.status == "active"
    assert versions["efficientnet-lite0"].status == "retired"  # one click ("roll back") away
    figures = served.metrics["fidelity_vs_float"]
    assert figures["images"] == 4 and figures["embedding_cosine"] >= EMBEDDING_COSINE
    runtime = LiteModel(served.artifact.open("rb").read())
    assert runtime.output_by_width(runtime.predict_all(photo_input(_photos()[0])[None]), 1000).shape == (1, 1000)


def test_admin_pages_show_an_int8_versions_fidelity(admin_client):
    from classifier.models import ModelRole
    from classifier.registry import model_version_create

    version = model_version_create(
        role=ModelRole.ADULT,
        architecture="open-nsfw-int8",
        class_names=["safe", "adult"],
        artifact=b"onnx",
        artifact_name="model.onnx",
        metrics={"fidelity_vs_float": {"images": 96, "decision_agreement": 0.97917, "max_abs_diff": 0.2}},
    )
    page = admin_client.get(f"/admin/classifier/modelversion/{version.pk}/change/")
    assert page.status_code == 200
    assert "against the float model on 96 photos: decision agreement 0.97917" in page.content.decode()
    assert admin_client.get("/admin/classifier/modelversion/").status_code == 200

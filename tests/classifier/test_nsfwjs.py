"""nsfwjs's MobileNetV2 (npm) as a second adult-content scorer: the weights
are read as TensorFlow.js stores them, the converted model gives nsfwjs's own
outputs, install_models registers it, and INFERENCE_ADULT_MODEL picks the
adult model that serves."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured

from classifier.ml import nsfwjs

FIXTURE = Path(__file__).resolve().parent / "data" / "nsfwjs_reference.json"
# The port computes what nsfwjs computes, in float32 on another runtime.
PORT_TOLERANCE = 1e-4


def test_weights_are_dequantized_as_tensorflow_js_does():
    manifest = [
        {
            "paths": ["group1-shard1of1"],
            "weights": [
                {
                    "name": "a/kernel",
                    "shape": [2, 2],
                    "dtype": "float32",
                    "quantization": {"min": -1.0, "scale": 0.5, "dtype": "uint8"},
                },
                {"name": "a/bias", "shape": [2], "dtype": "float32"},
            ],
        }
    ]
    data = bytes([0, 1, 2, 4]) + np.array([0.25, -3.0], "<f4").tobytes()
    weights = nsfwjs.dequantize(manifest, data)
    assert weights["a/kernel"].tolist() == [[-1.0, -0.5], [0.0, 1.0]]
    assert weights["a/bias"].tolist() == [0.25, -3.0]
    with pytest.raises(ValueError, match="manifest covers"):
        nsfwjs.dequantize(manifest, data + b"\0")


def test_adult_score_adds_the_adult_classes():
    probabilities = np.array([[0.1, 0.2, 0.3, 0.3, 0.1], [0.0, 0.0, 1.0, 0.0, 0.0]], np.float32)
    assert nsfwjs.adult_score(probabilities).tolist() == pytest.approx([0.5, 0.0])  # Hentai + Porn
    assert nsfwjs.adult_score(probabilities, adult_classes=("Sexy",)).tolist() == pytest.approx([0.1, 0.0])


def test_a_tampered_package_is_refused(tmp_path):
    (tmp_path / nsfwjs.TARBALL).write_bytes(b"not the package")
    with pytest.raises(nsfwjs.PackageUnavailable, match="integrity"):
        nsfwjs.fetch_package(tmp_path)
    assert not (tmp_path / nsfwjs.TARBALL).exists()


def test_without_npm_the_package_is_unavailable_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither npm nor node on it
    with pytest.raises(nsfwjs.PackageUnavailable, match="npm and node are needed"):
        nsfwjs.fetch_package(tmp_path)


@pytest.fixture(scope="session")
def nsfwjs_package(request, tmp_path_factory):
    """The pinned nsfwjs tarball, fetched once into pytest's cache (npm)."""
    cache = getattr(request.config, "cache", None)
    try:
        return nsfwjs.fetch_package(cache.mkdir("npm") if cache else tmp_path_factory.mktemp("npm"))
    except nsfwjs.PackageUnavailable as error:
        pytest.skip(f"nsfwjs package not available: {error}")


@pytest.fixture(scope="session")
def nsfwjs_tflite(nsfwjs_package):
    return nsfwjs.convert(nsfwjs_package)


@pytest.mark.tf
def test_converted_model_gives_nsfwjs_own_outputs(nsfwjs_tflite):
    # Probabilities nsfwjs computed in Node (TF.js) on the same pixels
    # (python -m bench.adult_models --reference wrote them).
    reference = json.loads(FIXTURE.read_text())
    names, pixels = nsfwjs.reference_images()
    assert reference["classes"] == list(nsfwjs.NSFW_CLASSES)
    assert [image["name"] for image in reference["images"]] == names
    for image, p in zip(reference["images"], pixels, strict=True):
        assert hashlib.sha256(p.tobytes()).hexdigest() == image["pixels_sha256"], f"{image['name']}: other pixels"
    got = nsfwjs.NsfwjsScorer(nsfwjs_tflite).probabilities(pixels.astype(np.float32) / 255.0)
    expected = np.array(reference["variants"][nsfwjs.DEFAULT_VARIANT])
    assert np.abs(got - expected).max() <= PORT_TOLERANCE, np.abs(got - expected).max()
    # The reference covers more than one class: a photo that is Neutral, a skin-toned one that is not.
    assert len(set(expected.argmax(1))) >= 2


# --- Registration and the setting ---------------------------------------------


def _adult_version(architecture, *, active=False, reason="pretrained weights (float, INFERENCE_INT8)"):
    from classifier.models import ModelRole
    from classifier.registry import model_version_activate, model_version_create

    version = model_version_create(
        role=ModelRole.ADULT,
        architecture=architecture,
        class_names=list(nsfwjs.NSFW_CLASSES) if architecture.startswith("nsfwjs") else ["safe", "adult"],
        artifact=b"artifact",
    )
    return model_version_activate(version=version, reason=reason) if active else version


def test_the_setting_picks_which_adult_model_install_serves(db, settings):
    from classifier.registry import active_version, model_version_activate
    from classifier.services import NSFWJS_ARCHITECTURE, adult_model_select

    open_nsfw = _adult_version("open-nsfw", active=True)
    light = _adult_version(NSFWJS_ARCHITECTURE)

    settings.INFERENCE_ADULT_MODEL = "open_nsfw"
    assert adult_model_select().pk == open_nsfw.pk
    settings.INFERENCE_ADULT_MODEL = "nsfwjs"
    assert adult_model_select().pk == light.pk and active_version("adult").pk == light.pk
    assert adult_model_select().pk == light.pk  # again: nothing changes
    settings.INFERENCE_ADULT_MODEL = "open_nsfw"
    assert adult_model_select().pk == open_nsfw.pk

    # A version a person chose in the admin keeps serving.
    model_version_activate(version=light, reason="promoted in the admin")
    assert adult_model_select().pk == light.pk
    assert adult_model_select(force=True).pk == open_nsfw.pk

    settings.INFERENCE_ADULT_MODEL = "yahoo"
    with pytest.raises(ImproperlyConfigured, match="INFERENCE_ADULT_MODEL"):
        adult_model_select()


def test_asking_for_nsfwjs_without_it_installed_keeps_open_nsfw(db, settings):
    from classifier.services import adult_model_select

    open_nsfw = _adult_version("open-nsfw", active=True)
    settings.INFERENCE_ADULT_MODEL = "nsfwjs"
    assert adult_model_select().pk == open_nsfw.pk


def test_install_registers_nsfwjs_and_analyses_use_it_when_it_serves(
    active_model, settings, nsfwjs_package, nsfwjs_tflite
):
    from classifier.inference import analyze, forget_loaded_models
    from classifier.ml.preprocessing import DECODE_SIDE, open_image
    from classifier.models import ModelVersionStatus
    from classifier.services import NSFWJS_ARCHITECTURE, adult_model_select, nsfwjs_install
    from tests.conftest import skimage_jpeg

    open_nsfw = _adult_version("open-nsfw", active=True)
    version = nsfwjs_install(fidelity_images=2, package_folder=nsfwjs_package.parent)
    assert version.architecture == NSFWJS_ARCHITECTURE and version.status == ModelVersionStatus.CANDIDATE
    assert version.class_names == list(nsfwjs.NSFW_CLASSES)
    assert version.training["adult_classes"] == list(nsfwjs.ADULT_CLASSES)
    assert nsfwjs.INTEGRITY in version.training["source"]
    figures = version.metrics["agreement_with_open_nsfw"]
    assert figures["images"] == 4 and 0 <= figures["decision_agreement"] <= 1  # 2 photos + 2 skin-toned
    assert nsfwjs_install(package_folder=nsfwjs_package.parent).pk == version.pk  # once

    settings.INFERENCE_ADULT_MODEL = "nsfwjs"
    assert adult_model_select().pk == version.pk
    forget_loaded_models()
    photo = skimage_jpeg("chelsea")
    adult = analyze(photo).adult
    expected = nsfwjs.NsfwjsScorer(nsfwjs_tflite).score_images([open_image(photo, target_side=DECODE_SIDE)])[0]
    assert adult.model_version_id == version.pk and adult.score == pytest.approx(float(expected), abs=1e-5)

    settings.INFERENCE_ADULT_MODEL = "open_nsfw"
    assert adult_model_select().pk == open_nsfw.pk
    forget_loaded_models()


def test_admin_shows_nsfwjs_agreement_with_open_nsfw(client, db):
    from django.contrib.auth import get_user_model

    from classifier.models import ModelVersion
    from classifier.services import NSFWJS_ARCHITECTURE

    version = _adult_version(NSFWJS_ARCHITECTURE)
    ModelVersion.objects.filter(pk=version.pk).update(
        metrics={"agreement_with_open_nsfw": {"images": 96, "decision_agreement": 0.96875, "disagreements": 3}}
    )
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "root-pass-1"))
    page = client.get(f"/admin/classifier/modelversion/{version.pk}/change/").content.decode()
    assert "adult decisions against Open-NSFW on 96 photos and skin-toned renderings" in page
    assert "decision agreement 0.96875" in page

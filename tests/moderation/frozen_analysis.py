"""Frozen analyses for policy tests: what the models would say, as
probability vectors, with real model-version rows to point at."""

import dataclasses

from classifier.contracts import AdultScore, ImageAnalysis, ImageNetTags, ProductPrediction
from classifier.ml.datasets import FASHION_MNIST_CLASSES
from classifier.ml.imagenet import imagenet_class_names
from classifier.models import ModelRole
from classifier.registry import model_version_create

PRODUCT_CLASSES = list(FASHION_MNIST_CLASSES)
ESPRESSO, PLATE, COFFEE_MUG, REVOLVER, TABBY, SNEAKER = 967, 923, 504, 763, 281, 770


def make_versions() -> dict:
    """Model-version rows for the three roles (no real artifacts)."""

    def make(role, names):
        return model_version_create(role=role, architecture="frozen", class_names=names, artifact=b"frozen")

    return {
        "product": make(ModelRole.PRODUCT, PRODUCT_CLASSES),
        "imagenet": make(ModelRole.IMAGENET, list(imagenet_class_names())),
        "adult": make(ModelRole.ADULT, ["safe", "adult"]),
    }


def frozen_analysis(
    versions,
    *,
    product: dict[str, float],
    imagenet: dict[int, float] | None,
    adult: float | None = 0.01,
    **product_extra,
) -> ImageAnalysis:
    label = max(product, key=product.get)
    tags = None
    if imagenet is not None:
        probabilities = [0.0] * 1000
        for index, p in imagenet.items():
            probabilities[index] = p
        top = sorted(imagenet.items(), key=lambda item: -item[1])[:5]
        names = imagenet_class_names()
        tags = ImageNetTags(
            top=tuple((i, names[i], p) for i, p in top),
            probabilities=tuple(probabilities),
            embedding=b"\0" * 2560,
            model_version_id=versions["imagenet"].pk,
            model_version_name=versions["imagenet"].name,
        )
    prediction = ProductPrediction(
        label=label,
        score=product[label],
        scores=product,
        model_version_id=versions["product"].pk,
        model_version_name=versions["product"].name,
    )
    if product_extra:  # the open-set fields of the product prediction (in_distribution, ood_score, …)
        prediction = dataclasses.replace(prediction, **product_extra)
    return ImageAnalysis(
        product=prediction,
        imagenet=tags,
        adult=None if adult is None else AdultScore(adult, versions["adult"].pk, versions["adult"].name),
        pdq_hash="0" * 64,
        pdq_quality=0,
    )


TORN_PRODUCT = {"Bag": 0.4, "Coat": 0.35, "Shirt": 0.25}  # the product model is unsure


def apply_frozen(upload, versions, **analysis):
    """Run the policy on `upload` as the worker would, with a frozen analysis."""
    from moderation.models import UploadStatus
    from moderation.services.lifecycle import upload_locked, upload_transition
    from moderation.services.uploads import upload_apply_analysis

    with upload_locked(upload.pk) as locked:
        upload_transition(locked, UploadStatus.PROCESSING)
    return upload_apply_analysis(upload_id=upload.pk, analysis=frozen_analysis(versions, **analysis))


def decided_upload(versions, *, declared: str = "", uploader=None, **analysis):
    """A new upload (a real image), decided on a frozen analysis."""
    from moderation.services.uploads import upload_create
    from tests.helpers import fashion_png

    upload = upload_create(data=fashion_png(0)[0], filename="x.png", declared_category=declared, uploader=uploader)
    return apply_frozen(upload, versions, **analysis)

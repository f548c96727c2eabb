"""factory_boy builders for the rows and frozen results the tests need.

The policy and the services take a frozen `ImageAnalysis` (what the models
said); `analysis(scores)` builds one from scores you choose, tied to a real
`ModelVersion` row, so a test of the policy, the queue or the review services
needs no TensorFlow and no trained model. Only tests about models train one
(the `tf` marker; see tests/conftest.py).
"""

from __future__ import annotations

import hashlib

import factory
from django.core.files.base import ContentFile
from django.db.models import F
from django.utils import timezone
from factory.django import DjangoModelFactory

from classifier.contracts import AdultScore, ImageAnalysis, ImageNetTags, ProductPrediction
from classifier.facade import FASHION_MNIST_CLASSES, ModelRole, ModelVersion, ModelVersionStatus
from moderation.models import Decision, FlagCategory, Prediction, Upload, UploadStatus, Verdict
from moderation.services.uploads import upload_apply_analysis, upload_create
from tests.helpers import encode, photo_like

# Scores of a product model torn between two classes (the review queue ranks
# such items high), and of a confident one. Neither decides a verdict: the
# policy follows risk signals only.
UNSURE = {"T-shirt/top": 0.45, "Shirt": 0.40, "Pullover": 0.15}
SURE = {"Bag": 0.97, "Coat": 0.03}


def _png(seed: int) -> bytes:
    return encode(photo_like(64, 48, seed=seed))


class ModelVersionFactory(DjangoModelFactory):
    """A product model version row. Its artifact is never run: tests that use
    it hand the services a frozen analysis instead."""

    class Meta:
        model = ModelVersion

    role = ModelRole.PRODUCT
    architecture = "frozen-scores"
    class_names = factory.LazyFunction(lambda: list(FASHION_MNIST_CLASSES))
    status = ModelVersionStatus.RETIRED
    artifact = factory.django.FileField(filename="model.tflite", data=b"never loaded")
    metrics = factory.LazyFunction(lambda: {"accuracy": 0.9})


class UploadFactory(DjangoModelFactory):
    """An upload row with a real PNG in storage, in the status you ask for."""

    class Meta:
        model = Upload

    class Params:
        data = factory.Sequence(_png)  # a different real image each time

    image = factory.LazyAttribute(lambda o: ContentFile(o.data, name="original"))
    image_format = "PNG"
    content_type = "image/png"
    width, height = 64, 48
    byte_size = factory.LazyAttribute(lambda o: len(o.data))
    sha256 = factory.LazyAttribute(lambda o: hashlib.sha256(o.data).hexdigest())
    original_filename = factory.Sequence(lambda n: f"upload-{n}.png")
    status = UploadStatus.PENDING
    created_at = factory.LazyFunction(timezone.now)


class ProductPredictionFactory(factory.Factory):
    """What a product model said: the top class and score follow from `scores`."""

    class Meta:
        model = ProductPrediction

    class Params:
        version = factory.SubFactory(ModelVersionFactory)

    scores = factory.LazyFunction(lambda: dict(UNSURE))
    label = factory.LazyAttribute(lambda o: max(o.scores, key=o.scores.get))
    score = factory.LazyAttribute(lambda o: o.scores[o.label])
    model_version_id = factory.LazyAttribute(lambda o: o.version.pk)
    model_version_name = factory.LazyAttribute(lambda o: o.version.name)


class ImageAnalysisFactory(factory.Factory):
    """A frozen analysis: product scores (and optionally an adult score), no
    ImageNet tags, a fixed PDQ hash that matches no bank."""

    class Meta:
        model = ImageAnalysis

    product = factory.SubFactory(ProductPredictionFactory)
    imagenet = None
    adult = None
    pdq_hash = "0" * 64
    pdq_quality = 100


def analysis(
    scores: dict[str, float],
    *,
    version: ModelVersion | None = None,
    adult: float | None = None,
    imagenet: list[tuple[int, str, float]] | None = None,
) -> ImageAnalysis:
    """A frozen analysis of these product scores by `version` (a new version
    row when None), optionally with an adult score and ImageNet classes
    (index, name, probability), each by a version row of its role."""
    product = ProductPredictionFactory(scores=scores, **({"version": version} if version else {}))
    adult_score = tags = None
    if adult is not None:
        adult_version = ModelVersionFactory(role=ModelRole.ADULT, class_names=["safe", "adult"])
        adult_score = AdultScore(score=adult, model_version_id=adult_version.pk, model_version_name=adult_version.name)
    if imagenet is not None:
        tagger = ModelVersionFactory(role=ModelRole.IMAGENET, class_names=[f"class {i}" for i in range(1000)])
        probabilities = [0.0] * 1000
        for index, _, p in imagenet:
            probabilities[index] = p
        tags = ImageNetTags(
            top=tuple(sorted(imagenet, key=lambda t: -t[2])),
            probabilities=tuple(probabilities),
            embedding=bytes(1280 * 2),
            model_version_id=tagger.pk,
            model_version_name=tagger.name,
        )
    return ImageAnalysisFactory(product=product, adult=adult_score, imagenet=tags)


def classified(upload: Upload, result: ImageAnalysis) -> Upload:
    """What a worker does with an upload once the models have spoken: it marks
    it processing (as upload_classify does) and applies the frozen analysis."""
    Upload.objects.filter(pk=upload.pk).update(status=UploadStatus.PROCESSING, attempts=F("attempts") + 1)
    upload_apply_analysis(upload_id=upload.pk, analysis=result)
    upload.refresh_from_db()
    return upload


class PredictionFactory(DjangoModelFactory):
    class Meta:
        model = Prediction

    upload = factory.SubFactory(UploadFactory)
    model_version = factory.SubFactory(ModelVersionFactory)
    scores = factory.LazyFunction(lambda: dict(UNSURE))
    label = factory.LazyAttribute(lambda o: max(o.scores, key=o.scores.get))
    score = factory.LazyAttribute(lambda o: o.scores[o.label])


class DecisionFactory(DjangoModelFactory):
    """A moderator's decision row (the review services write these; use this
    only to set a scene, e.g. a history to list)."""

    class Meta:
        model = Decision

    upload = factory.SubFactory(UploadFactory, status=UploadStatus.APPROVED)
    prediction = factory.SubFactory(PredictionFactory, upload=factory.SelfAttribute("..upload"))
    moderator = None  # required: pass the moderator
    verdict = Verdict.APPROVE
    label_before = factory.LazyAttribute(lambda o: o.prediction.label if o.prediction else "")
    label_after = ""


def policy_approves_nothing() -> None:
    """Every upload goes to review: the adult-content flag reviews any score,
    and where no adult-content model is active the check cannot run, which
    reviews too (the policy approves only when every risk check ran clean)."""
    FlagCategory.objects.update_or_create(
        name="adult content",
        defaults={"kind": "adult", "review_threshold": 0.0, "reject_threshold": 0.85, "enabled": True},
    )


def uploads_in_review(n: int, *, version: ModelVersion | None = None, **create_kwargs) -> list[Upload]:
    """`n` uploads made through upload_create and put in review by frozen,
    unsure analyses (a different margin each, so their queue ranks differ)."""
    policy_approves_nothing()
    version = version or ModelVersionFactory()
    uploads = []
    for i in range(n):
        upload = upload_create(data=_png(i), filename=f"{i}.png", **create_kwargs)
        top = 0.40 + 0.5 * (i % 10) / 10  # 0.40 … 0.85: margins from torn to fairly sure
        scores = {"T-shirt/top": top, "Shirt": (1 - top) * 0.8, "Pullover": (1 - top) * 0.2}
        uploads.append(classified(upload, analysis(scores, version=version)))
    return uploads


def upload_in_review(**create_kwargs) -> Upload:
    """One upload in review (uploads_in_review(1)); `create_kwargs` go to upload_create."""
    [upload] = uploads_in_review(1, **create_kwargs)
    assert upload.status == UploadStatus.IN_REVIEW
    return upload

"""The classifier's facade for the rest of the platform: image bytes in,
frozen results out.

Each process loads the active version of each role once and keeps it; it
checks for a newly active version at most every CLASSIFIER_VERSION_CHECK_SECONDS
(one indexed query per role), so workers pick up a promotion without a restart.
One analysis uses one loaded version per role, never a mix.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from django.conf import settings
from PIL import Image

from classifier.contracts import (
    AdultScore,
    FrameAnalysis,
    ImageAnalysis,
    ImageNetTags,
    ImageText,
    NoActiveModel,
    ProductPrediction,
)
from classifier.ml.architectures import get as get_architecture
from classifier.ml.frames import is_animation, sample_frames, thumbnail_jpeg
from classifier.ml.hashing import pdq_hash
from classifier.ml.nsfwjs import is_nsfwjs
from classifier.ml.open_set import OpenSetGate
from classifier.ml.photo_products import PhotoHead, PhotoTag
from classifier.ml.preprocessing import (
    DECODE_SIDE,
    PRODUCT_INPUT_SIDE,
    image_to_product_pixels,
    normalize,
    open_image,
    photo_input,
)
from classifier.ml.runtime import LiteModel
from classifier.models import ModelRole, ModelVersion
from classifier.registry import active_version_id

logger = logging.getLogger(__name__)

EMBEDDING_WIDTH = 1280
IMAGENET_CLASSES = 1000


@dataclass(frozen=True)
class LoadedModel:
    version_id: int
    version_name: str
    architecture: str
    class_names: tuple[str, ...]
    runtime: Any  # LiteModel; AdultScorer (Open-NSFW, ONNX) or NsfwjsScorer (LiteRT) for the adult role


class _ModelCache:
    def __init__(self) -> None:
        self._loaded: dict[str, LoadedModel | None] = {}
        self._checked_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def get(self, role: str) -> LoadedModel | None:
        now = time.monotonic()
        interval = settings.CLASSIFIER_VERSION_CHECK_SECONDS
        if not settings.INFERENCE_CACHE_MODELS:
            version_id = active_version_id(role)
            return None if version_id is None else _load(ModelVersion.objects.get(pk=version_id))
        if role in self._loaded and now - self._checked_at.get(role, 0.0) < interval:
            return self._loaded[role]
        with self._lock:
            version_id = active_version_id(role)
            self._checked_at[role] = now
            loaded = self._loaded.get(role)
            if version_id is None:
                loaded = None
            elif loaded is None or loaded.version_id != version_id:
                loaded = _load(ModelVersion.objects.get(pk=version_id))
            self._loaded[role] = loaded
            return loaded

    def clear(self) -> None:
        with self._lock:
            self._loaded.clear()
            self._checked_at.clear()


def _load(version: ModelVersion) -> LoadedModel:
    with version.artifact.open("rb") as fh:
        data = fh.read()
    runtime: Any
    if version.role == ModelRole.ADULT and is_nsfwjs(version.architecture):
        from classifier.ml.nsfwjs import ADULT_CLASSES, NsfwjsScorer

        runtime = NsfwjsScorer(
            data,
            threads=settings.INFERENCE_THREADS,
            adult_classes=(version.training or {}).get("adult_classes") or ADULT_CLASSES,
        )
    elif version.role == ModelRole.ADULT:
        from classifier.ml.nsfw import AdultScorer

        runtime = AdultScorer(
            data,
            threads=settings.INFERENCE_THREADS,
            max_batch=settings.INFERENCE_ADULT_MAX_BATCH,
            fold=settings.INFERENCE_ADULT_FOLDED,
        )
    elif version.role == ModelRole.OPEN_SET:
        runtime = OpenSetGate.from_bytes(data)
    elif version.role == ModelRole.PRODUCT_PHOTO:
        runtime = PhotoHead.from_bytes(data)
    else:
        runtime = LiteModel(
            data, num_threads=settings.INFERENCE_THREADS, batch_sizes_kept=settings.INFERENCE_BATCH_SIZES_KEPT
        )
    return LoadedModel(version.pk, version.name, version.architecture, tuple(version.class_names), runtime)


_cache = _ModelCache()


def loaded_model(role: str = ModelRole.PRODUCT) -> LoadedModel:
    model = _cache.get(role)
    if model is None:
        raise NoActiveModel(f"no active {role} model; run `python manage.py bootstrap`")
    return model


def forget_loaded_models() -> None:
    """Drop every loaded model (tests; a process that forked)."""
    _cache.clear()


def _product(
    model: LoadedModel, probabilities: np.ndarray, gate: LoadedModel | None = None, ood_score: float | None = None
) -> ProductPrediction:
    best = int(np.argmax(probabilities))
    prediction = ProductPrediction(
        label=model.class_names[best],
        score=float(probabilities[best]),
        scores={name: float(p) for name, p in zip(model.class_names, probabilities, strict=False)},
        model_version_id=model.version_id,
        model_version_name=model.version_name,
    )
    if gate is None or ood_score is None:
        return prediction
    return replace(
        prediction,
        in_distribution=bool(ood_score <= gate.runtime.threshold),
        ood_score=float(ood_score),
        ood_threshold=float(gate.runtime.threshold),
        ood_method=gate.runtime.method,
        ood_version_id=gate.version_id,
    )


def _on_backbone(role: str, backbone: LoadedModel | None) -> LoadedModel | None:
    """The active model of `role` (the open-set gate, the real-photo product
    model), if it was fitted on the active backbone's outputs."""
    model = _cache.get(role)
    if model is None or backbone is None:
        return None
    if model.runtime.backbone_version_id != backbone.version_id:
        logger.warning(
            "%s %s was fitted on backbone v%s, not the active %s: not applied; run `manage.py install_models`",
            role,
            model.version_name,
            model.runtime.backbone_version_id,
            backbone.version_name,
        )
        return None
    return model


def _photo_product(photo: LoadedModel, tag: PhotoTag, studio: ProductPrediction) -> ProductPrediction:
    """The real-photo model's tag, routed there by the open-set gate (whose figures it keeps)."""
    return replace(
        studio,
        label=tag.label,
        score=tag.score,
        scores=tag.scores,
        model_version_id=photo.version_id,
        model_version_name=photo.version_name,
        in_distribution=tag.shown,
        route="photo",
        reason=tag.reason,
        product_mass=tag.product_mass,
    )


def classify_product(image_bytes: bytes) -> ProductPrediction:
    """Tag the product in one encoded image with the active product model."""
    return analyze_many([image_bytes])[0].product


def analyze(image_bytes: bytes) -> ImageAnalysis:
    return analyze_many([image_bytes])[0]


def analyze_frames(image_bytes: bytes, *, max_frames: int) -> list[FrameAnalysis]:
    """Every frame a viewer can see, judged: a still image is one frame; an
    animation (GIF, APNG, WebP) gives its sampled frames (classifier.ml.frames),
    all run through the models in one batch. The caller bounds frames x pixels."""
    deadline = time.monotonic() + settings.TEXT_READ_SECONDS
    if not is_animation(Image.open(io.BytesIO(image_bytes))):
        analysis = analyze(image_bytes)
        if settings.TEXT_IN_IMAGES:
            text = read_text(open_image(image_bytes, target_side=settings.TEXT_DECODE_SIDE), deadline=deadline)
            analysis = replace(analysis, text=text)
        return [FrameAnalysis(0, 0, 0, False, 0.0, analysis)]
    frames = sample_frames(image_bytes, max_frames=max_frames)
    # A frame identical to one already judged (loops, held frames) is not run again.
    digests = [hashlib.blake2b(frame.image.tobytes(), digest_size=16).digest() for frame in frames]
    slot: dict[bytes, int] = {}
    distinct: list = []
    for frame, digest in zip(frames, digests, strict=True):
        if digest not in slot:
            slot[digest] = len(distinct)
            distinct.append(frame.image)
    analyses = _analyze_decoded(distinct, _active_models())
    if settings.TEXT_IN_IMAGES:
        # Text is read on at most TEXT_MAX_FRAMES distinct frames, spread over
        # the animation, within the upload's time limit; the others keep None.
        chosen = _spread(len(distinct), settings.TEXT_MAX_FRAMES)
        for i in chosen:
            if time.monotonic() > deadline:
                break
            analyses[i] = replace(analyses[i], text=read_text(distinct[i], deadline=deadline))
    return [
        FrameAnalysis(
            f.index,
            f.timestamp_ms,
            f.duration_ms,
            f.default_image,
            f.scene_change,
            analyses[slot[digest]],
            thumbnail_jpeg(f.image),
        )
        for f, digest in zip(frames, digests, strict=True)
    ]


def _spread(count: int, most: int) -> list[int]:
    """Up to `most` of `count` indices, evenly spread, the first included."""
    if count <= most:
        return list(range(count))
    return sorted({round(i * (count - 1) / max(1, most - 1)) for i in range(most)})


class _Reader:
    """The OCR models, loaded on first use in each process (they are not a
    registry role: their weights ship in a package and do not change)."""

    def __init__(self) -> None:
        self._reader: Any = None  # classifier.ml.ocr.TextReader, imported on first use
        self._lock = threading.Lock()

    def get(self) -> Any:
        if self._reader is None:
            with self._lock:
                if self._reader is None:
                    from classifier.ml.ocr import TextReader

                    self._reader = TextReader(threads=settings.INFERENCE_THREADS, detect_side=settings.TEXT_DETECT_SIDE)
        return self._reader


_text_reader = _Reader()


def read_text(image: Image.Image, *, deadline: float | None = None) -> ImageText:
    """The text lines and QR codes/barcodes of one decoded image (upright),
    boxes in its pixels. Bounded: the image is shrunk to TEXT_DECODE_SIDE, the
    detector sees TEXT_DETECT_SIDE, and recognition stops at `deadline`."""
    from classifier.ml.ocr import read_codes

    image = image.convert("RGB")
    side = settings.TEXT_DECODE_SIDE
    if max(image.size) > side:
        image = image.copy()
        image.thumbnail((side, side), Image.Resampling.BILINEAR)
    text = _text_reader.get().read(image, deadline=deadline)
    return replace(text, codes=read_codes(image))


def image_text(image_bytes: bytes) -> ImageText:
    """What one encoded image says (its first frame)."""
    side = settings.TEXT_DECODE_SIDE
    return read_text(open_image(image_bytes, target_side=side), deadline=time.monotonic() + settings.TEXT_READ_SECONDS)


def _active_models() -> tuple[LoadedModel, LoadedModel | None, LoadedModel | None, bool]:
    product = loaded_model(ModelRole.PRODUCT)
    backbone = _cache.get(ModelRole.IMAGENET)
    adult = _cache.get(ModelRole.ADULT)
    head = get_architecture(product.architecture).input_kind == "embedding"
    if head and backbone is None:
        raise NoActiveModel("the product model reads backbone embeddings, but no ImageNet backbone is active")
    return product, backbone, adult, head


def analyze_many(images: list[bytes]) -> list[ImageAnalysis]:
    """Run every active model on a batch of encoded images, decoding each once."""
    models = _active_models()
    _, backbone, adult, _ = models
    target_side = (
        (DECODE_SIDE if (backbone or adult) else PRODUCT_INPUT_SIDE) if settings.INFERENCE_REDUCED_DECODE else None
    )
    return _analyze_decoded([open_image(data, target_side=target_side) for data in images], models)


class _Beside:
    """One thread per process that runs a model call beside the caller's.
    Open-NSFW (onnxruntime) and LiteRT let go of the GIL while they compute, so
    on an otherwise idle core an upload's adult score costs no wall time on top
    of its tags and hash; under full load the two cores are busy either way.
    Made on first use in each process, and forgotten in a forked child (a
    prefork worker's children inherit neither the thread nor a usable lock)."""

    def __init__(self) -> None:
        self._forget()
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, call, *args) -> Future:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-beside")
            return self._pool.submit(call, *args)


_beside = _Beside()


def _analyze_decoded(decoded: list[Image.Image], models: tuple) -> list[ImageAnalysis]:
    """Run the active models (from _active_models) on decoded images, as one
    batch; the adult model beside the others when INFERENCE_PARALLEL_MODELS."""
    product, backbone, adult, head = models
    adult_run: Future | None = None
    if adult is not None and settings.INFERENCE_PARALLEL_MODELS:
        for image in decoded:
            image.load()  # pixels read by two threads are decoded before either starts
        adult_run = _beside.submit(adult.runtime.score_images, decoded)
    hashes = [pdq_hash(image) for image in decoded]

    tags: list[ImageNetTags | None] = [None] * len(decoded)
    embeddings = probabilities = None
    if backbone is not None:
        outputs = backbone.runtime.predict_all(np.stack([photo_input(image) for image in decoded]))
        probabilities = backbone.runtime.output_by_width(outputs, IMAGENET_CLASSES)
        embeddings = backbone.runtime.output_by_width(outputs, EMBEDDING_WIDTH)
        for i, (probs, embedding) in enumerate(zip(probabilities, embeddings, strict=False)):
            top = np.argsort(-probs)[:5]
            tags[i] = ImageNetTags(
                top=tuple((int(k), backbone.class_names[k], float(probs[k])) for k in top),
                probabilities=tuple(float(p) for p in probs),
                embedding=embedding.astype(np.float16).tobytes(),
                model_version_id=backbone.version_id,
                model_version_name=backbone.version_name,
            )

    if head:
        product_probabilities = product.runtime.predict(embeddings)
    else:
        product_probabilities = product.runtime.predict(
            normalize(np.stack([image_to_product_pixels(image) for image in decoded]))
        )

    gate = _on_backbone(ModelRole.OPEN_SET, backbone)
    ood_scores = gate.runtime.scores(embeddings) if gate is not None else [None] * len(decoded)
    studio = [_product(product, product_probabilities[i], gate, ood_scores[i]) for i in range(len(decoded))]
    # What the gate finds unlike the studio shots goes to the real-photo model.
    served: list[ProductPrediction] = list(studio)
    photo = _on_backbone(ModelRole.PRODUCT_PHOTO, backbone) if gate is not None else None
    routed = [i for i, prediction in enumerate(studio) if not prediction.in_distribution]
    if photo is not None and routed and embeddings is not None and probabilities is not None:
        photo_tags = photo.runtime.tags(probabilities[routed], embeddings[routed])
        for i, tag in zip(routed, photo_tags, strict=True):
            served[i] = _photo_product(photo, tag, studio[i])

    adult_scores: list[AdultScore | None] = [None] * len(decoded)
    if adult is not None:
        scores = adult_run.result() if adult_run is not None else adult.runtime.score_images(decoded)
        for i, score in enumerate(scores):
            adult_scores[i] = AdultScore(float(score), adult.version_id, adult.version_name)

    return [
        ImageAnalysis(
            product=served[i],
            imagenet=tags[i],
            adult=adult_scores[i],
            pdq_hash=hashes[i][0].hex(),
            pdq_quality=hashes[i][1],
            studio_product=studio[i] if served[i] is not studio[i] else None,
        )
        for i in range(len(decoded))
    ]


def image_pdq_hash(image_bytes: bytes) -> tuple[str, int]:
    """(hex PDQ hash, quality 0..100) of an image's first frame, upright: the
    hash an upload of the same file gets, for adding a file to a bank."""
    hashed, quality = pdq_hash(open_image(image_bytes))
    return hashed.hex(), quality


def product_heatmap(image_bytes: bytes, *, version_id: int, label: str) -> bytes:
    """PNG of the image with the evidence for `label` drawn over it, by the
    product model version that made the prediction (not necessarily active)."""
    from classifier.ml.explain import occlusion_map, overlay_png

    model = _load(ModelVersion.objects.get(pk=version_id))
    class_index = model.class_names.index(label)
    image = open_image(image_bytes, target_side=DECODE_SIDE)
    if isinstance(model.runtime, PhotoHead):
        backbone = loaded_model(ModelRole.IMAGENET)

        def predict(batch: np.ndarray) -> np.ndarray:
            outputs = backbone.runtime.predict_all(batch)
            return model.runtime.probabilities(
                backbone.runtime.output_by_width(outputs, IMAGENET_CLASSES),
                backbone.runtime.output_by_width(outputs, EMBEDDING_WIDTH),
            )

        heat = occlusion_map(photo_input(image), predict, class_index, patch=48, stride=24, fill=0.0)
    elif get_architecture(model.architecture).input_kind == "embedding":
        backbone = loaded_model(ModelRole.IMAGENET)

        def predict(batch: np.ndarray) -> np.ndarray:
            outputs = backbone.runtime.predict_all(batch)
            return model.runtime.predict(backbone.runtime.output_by_width(outputs, EMBEDDING_WIDTH))

        heat = occlusion_map(photo_input(image), predict, class_index, patch=48, stride=24, fill=0.0)
    else:
        pixels = normalize(image_to_product_pixels(image))
        heat = occlusion_map(pixels, model.runtime.predict, class_index, patch=6, stride=2, fill=0.0)
    return overlay_png(image, heat)

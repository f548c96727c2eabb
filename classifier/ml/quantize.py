"""int8 versions of the pretrained photo models, and how faithful they are.

Open-NSFW (ONNX) is quantized by onnxruntime (static, calibrated on photos, or
dynamic); EfficientNet-Lite0 by the TFLite converter (full-integer with a
representative data set, or dynamic-range). Calibration photos are the colour
photos scikit-image ships (no download), with crops, flips and rescales of
them; the fidelity figures compare a quantized model with its float original
on any list of photos.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

# scikit-image's photos that are in its wheel (no pooch download), colour first.
SAMPLE_PHOTOS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "stereo_motorcycle",
    "hubble_deep_field",
    "retina",
    "immunohistochemistry",
    "camera",
    "coins",
    "moon",
    "page",
)
# The adult-content thresholds in use (migration 0003: review 0.4, reject 0.85).
ADULT_THRESHOLDS = (0.4, 0.85)

# Photos the int8 versions are calibrated on at install (scikit-image's samples
# and variants of them), and others (another seed) their figures are measured on.
CALIBRATION_IMAGES = 64
INSTALL_FIDELITY_IMAGES = 48
# Skin tones (RGB) for skin_toned(): light to dark.
SKIN_TONES = ((241, 194, 170), (224, 172, 150), (198, 134, 106), (160, 100, 75))


def sample_photos() -> list[tuple[str, Image.Image]]:
    """scikit-image's sample photos (grayscale ones as RGB), by name."""
    from skimage import data

    photos = []
    for name in SAMPLE_PHOTOS:
        loaded = getattr(data, name)()
        if name == "stereo_motorcycle":  # (left view, right view, disparity)
            photos += [("motorcycle_left", loaded[0]), ("motorcycle_right", loaded[1])]
        else:
            photos.append((name, loaded))
    return [(name, Image.fromarray(np.asarray(pixels)).convert("RGB")) for name, pixels in photos]


def folder_photos(folders: Iterable[str | os.PathLike], *, min_side: int = 256) -> list[tuple[str, Image.Image]]:
    """One photo per picture in the folders (e.g. Debian's wallpaper packages,
    which ship each wallpaper at several sizes: the smallest size at or above
    `min_side` is kept), shrunk to at most 1024 px."""
    chosen: dict[str, tuple[int, Path]] = {}
    for folder in folders:
        root = Path(folder)
        if not root.exists():
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() not in (".jpg", ".jpeg", ".png") or "screenshot" in path.name.lower():
                continue
            try:
                with Image.open(path) as image:
                    size = min(image.size)
            except OSError:
                continue
            # .../<Wallpaper>/contents/images/1920x1080.jpg: one entry per <Wallpaper>.
            key = str(path.parents[2]) if path.parent.name == "images" else str(path.with_suffix(""))
            if size >= min_side and (key not in chosen or size < chosen[key][0]):
                chosen[key] = (size, path)
    photos = []
    for key, (_, path) in sorted(chosen.items()):
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((1024, 1024), Image.Resampling.BILINEAR)
        photos.append((Path(key).name, image))
    return photos


def photo_variants(photos: list[Image.Image], count: int, *, seed: int = 0) -> list[Image.Image]:
    """`count` images: each photo as it is, then random crops (30-100 % of the
    side), mirror images and rescales (25-100 %) of them, in turn."""
    rng = np.random.default_rng(seed)
    out = list(photos[:count])
    while len(out) < count:
        image = photos[len(out) % len(photos)]
        w, h = image.size
        side = rng.uniform(0.3, 1.0)
        cw, ch = max(32, int(w * side)), max(32, int(h * rng.uniform(max(0.3, side * 0.7), 1.0)))
        left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        variant = image.crop((left, top, left + cw, top + ch))
        if rng.random() < 0.5:
            variant = ImageOps.mirror(variant)
        scale = rng.uniform(0.25, 1.0)
        variant = variant.resize(
            (max(32, int(variant.width * scale)), max(32, int(variant.height * scale))), Image.Resampling.BILINEAR
        )
        out.append(variant)
    return out


def calibration_images(count: int = CALIBRATION_IMAGES, *, seed: int = 0) -> list[Image.Image]:
    """The photos int8 models are calibrated on: scikit-image's samples and variants."""
    return photo_variants([image for _, image in sample_photos()], count, seed=seed)


def skin_toned(images: list[Image.Image], *, side: int = 256) -> list[Image.Image]:
    """Each image's (slightly blurred) light and shade in a skin tone. Not adult
    content, but Open-NSFW scores such pictures anywhere from 0 to about 0.8,
    so they test an int8 model near the adult thresholds, where safe photos
    never go."""
    from PIL import ImageFilter

    out = []
    for k, image in enumerate(images):
        shade = image.convert("L").resize((side, side), Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(2))
        light = np.asarray(shade, np.float32)[..., np.newaxis] / 255 * 0.5 + 0.5
        out.append(Image.fromarray((light * np.array(SKIN_TONES[k % len(SKIN_TONES)], np.float32)).astype(np.uint8)))
    return out


# --- Open-NSFW on onnxruntime ---------------------------------------------------


def quantize_open_nsfw(
    model_bytes: bytes,
    *,
    calibration: list[Image.Image] | None = None,
    quant_format: str = "qoperator",
    method: str = "minmax",
) -> bytes:
    """int8 Open-NSFW: static (activations calibrated on `calibration`, in
    QOperator or QDQ form, weights per channel; `method` "minmax" keeps each
    activation's full calibrated range, "percentile" clips its rarest 0.001 %)
    or, without calibration photos, dynamic (weights int8, activations
    quantized per call). Static QOperator with min-max measured as fast as any
    and the most faithful; dynamic is 5x slower than float (bench.quantized)."""
    # The quantizer logs a warning for every shape-computing tensor it leaves
    # float (dozens here) and prints its calibration steps; keep a command's
    # output to its summary.
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return _quantize_onnx(model_bytes, calibration, quant_format, method)
    finally:
        logging.disable(logging.NOTSET)


def _quantize_onnx(model_bytes: bytes, calibration: list[Image.Image] | None, quant_format: str, method: str) -> bytes:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from classifier.ml.nsfw import prepare

    with tempfile.TemporaryDirectory() as folder:
        source, prepared, target = (os.path.join(folder, n) for n in ("float.onnx", "prepared.onnx", "int8.onnx"))
        Path(source).write_bytes(model_bytes)
        # Shape inference and graph optimisation first (batch norm folded into
        # the convolutions), as onnxruntime recommends before quantizing.
        quant_pre_process(source, prepared, skip_symbolic_shape=False)
        if calibration is None:
            quantize_dynamic(prepared, target, weight_type=QuantType.QInt8, per_channel=True)
        else:

            class Photos(CalibrationDataReader):
                def __init__(self) -> None:
                    self._batches: Iterator = iter({"input_0": prepare([image])} for image in calibration)

                def get_next(self):
                    return next(self._batches, None)

            quantize_static(
                prepared,
                target,
                Photos(),
                quant_format=QuantFormat.QDQ if quant_format == "qdq" else QuantFormat.QOperator,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.Percentile if method == "percentile" else CalibrationMethod.MinMax,
            )
        return Path(target).read_bytes()


# --- EfficientNet-Lite0 on LiteRT -----------------------------------------------


def lite0_representative(images: list[Image.Image]):
    """The TFLite converter's representative data set: the photos as the model sees them."""
    from classifier.ml.preprocessing import photo_input

    def batches():
        for image in images:
            yield [photo_input(image)[np.newaxis].astype(np.float32)]

    return batches


def quantize_lite0(model, *, calibration: list[Image.Image] | None = None) -> bytes:
    """int8 EfficientNet-Lite0 as TFLite: full-integer (weights and activations,
    float input and outputs kept, so it serves exactly like the float one) when
    calibration photos are given, else dynamic-range (weights only)."""
    from classifier.ml.training import export_tflite

    return export_tflite(
        model, representative=lite0_representative(calibration) if calibration else None, quantize=True
    )


# --- Fidelity -------------------------------------------------------------------


@dataclass(frozen=True)
class AdultFidelity:
    images: int
    decision_agreement: float  # share of images with the same decision at ADULT_THRESHOLDS
    max_abs_diff: float
    mean_abs_diff: float
    float_decisions: dict[str, int]  # how many images the float model approves / reviews / rejects
    disagreements: int

    def as_dict(self) -> dict:
        return {
            "images": self.images,
            "decision_agreement": round(self.decision_agreement, 5),
            "max_abs_diff": round(self.max_abs_diff, 5),
            "mean_abs_diff": round(self.mean_abs_diff, 6),
            "float_decisions": self.float_decisions,
            "disagreements": self.disagreements,
        }


def adult_decisions(scores: np.ndarray, thresholds: tuple[float, float] = ADULT_THRESHOLDS) -> np.ndarray:
    """0 approve, 1 review, 2 reject, as the adult flag decides at its thresholds."""
    review, reject = thresholds
    scores = np.asarray(scores)
    return (scores >= review).astype(int) + (scores >= reject).astype(int)


def adult_fidelity(
    float_scores: np.ndarray, int8_scores: np.ndarray, thresholds: tuple[float, float] = ADULT_THRESHOLDS
) -> AdultFidelity:
    a, b = np.asarray(float_scores, np.float64), np.asarray(int8_scores, np.float64)
    da, db = adult_decisions(a, thresholds), adult_decisions(b, thresholds)
    diff = np.abs(a - b)
    counts = np.bincount(da, minlength=3)
    return AdultFidelity(
        images=len(a),
        decision_agreement=float((da == db).mean()) if len(a) else 1.0,
        max_abs_diff=float(diff.max()) if len(a) else 0.0,
        mean_abs_diff=float(diff.mean()) if len(a) else 0.0,
        float_decisions={"approve": int(counts[0]), "review": int(counts[1]), "reject": int(counts[2])},
        disagreements=int((da != db).sum()),
    )


@dataclass(frozen=True)
class TaggerFidelity:
    images: int
    top1_agreement: float  # the int8 model's top class is the float model's
    top5_overlap: float  # mean share of the float top 5 in the int8 top 5
    max_abs_diff: float  # of any class probability
    embedding_cosine: float  # mean cosine similarity of the pooled embeddings

    def as_dict(self) -> dict:
        return {
            "images": self.images,
            "top1_agreement": round(self.top1_agreement, 5),
            "top5_overlap": round(self.top5_overlap, 5),
            "max_abs_diff": round(self.max_abs_diff, 5),
            "embedding_cosine": round(self.embedding_cosine, 5),
        }


def tagger_fidelity(
    float_probs: np.ndarray, int8_probs: np.ndarray, float_embeddings: np.ndarray, int8_embeddings: np.ndarray
) -> TaggerFidelity:
    top_a, top_b = np.argsort(-float_probs, axis=1)[:, :5], np.argsort(-int8_probs, axis=1)[:, :5]
    overlap = np.mean([len(set(x) & set(y)) / 5 for x, y in zip(top_a, top_b, strict=True)])
    a, b = np.asarray(float_embeddings, np.float64), np.asarray(int8_embeddings, np.float64)
    cosine = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return TaggerFidelity(
        images=len(float_probs),
        top1_agreement=float((top_a[:, 0] == top_b[:, 0]).mean()),
        top5_overlap=float(overlap),
        max_abs_diff=float(np.abs(float_probs - int8_probs).max()),
        embedding_cosine=float(cosine.mean()),
    )

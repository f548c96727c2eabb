"""Where in the image the evidence for a class lies: occlusion sensitivity.

A patch of background slides over the model's input; where covering the
image lowers the class's probability most, the evidence is. Model-agnostic,
so it explains a TFLite model as it serves, with one batched call."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageOps

# The overlay's opacity at the top of the scale (0..1 of 255).
HEAT_MAX_OPACITY = 0.9


def occlusion_map(
    model_input: np.ndarray,
    predict: Callable[[np.ndarray], np.ndarray],
    class_index: int,
    patch: int,
    stride: int,
    fill: float,
) -> np.ndarray:
    """(H, W) map in 0..1 of how much covering each pixel lowers the class's probability."""
    height, width = model_input.shape[:2]
    positions = [(y, x) for y in range(0, height - patch + 1, stride) for x in range(0, width - patch + 1, stride)]
    batch = np.repeat(model_input[np.newaxis], len(positions), axis=0)
    for i, (y, x) in enumerate(positions):
        batch[i, y : y + patch, x : x + patch] = fill
    base = float(predict(model_input[np.newaxis])[0][class_index])
    drops = np.clip(base - predict(batch)[:, class_index], 0, None)
    heat = np.zeros((height, width), np.float32)
    counts = np.zeros((height, width), np.float32)
    for drop, (y, x) in zip(drops, positions, strict=False):
        heat[y : y + patch, x : x + patch] += drop
        counts[y : y + patch, x : x + patch] += 1
    heat = heat / np.maximum(counts, 1)
    top = heat.max()
    return heat / top if top > 0 else heat


def overlay_png(image: Image.Image, heat: np.ndarray, side: int = 320) -> bytes:
    """The image (fitted into side x side), in grey so that colour means
    evidence, with the map drawn over it in red: opaque where covering the
    image lowers the class's score most (1.0, the scale's top), clear where
    it changes nothing (0). The review page draws the same scale beside it."""
    base = ImageOps.grayscale(image.convert("RGB")).convert("RGB")
    base.thumbnail((side, side), Image.Resampling.BILINEAR)
    mask = Image.fromarray((heat * 255).astype(np.uint8), "L").resize(base.size, Image.Resampling.BILINEAR)
    red = Image.new("RGB", base.size, (230, 20, 20))
    alpha = mask.point(lambda v: int(v * HEAT_MAX_OPACITY))
    shown = Image.composite(red, base, alpha)
    buffer = io.BytesIO()
    shown.save(buffer, "PNG")
    return buffer.getvalue()

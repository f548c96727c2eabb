"""Training-time augmentation as numpy: random horizontal flips, shifts of up to
`max_shift` pixels (zero padding), and random erasing. Product photos are
left-right symmetric in meaning, shifts teach position invariance, and erasing
a random rectangle (filled with noise) teaches the model to use the whole
garment rather than one telltale patch (Zhong et al., "Random Erasing Data
Augmentation", 2017)."""

from __future__ import annotations

import numpy as np


def flip_and_shift(pixels: np.ndarray, rng: np.random.Generator, max_shift: int = 2) -> np.ndarray:
    """(n, h, w) uint8 -> augmented copy of the same shape."""
    n, h, w = pixels.shape
    out = pixels.copy()
    flip = rng.random(n) < 0.5
    out[flip] = out[flip, :, ::-1]
    if not max_shift:
        return out
    padded = np.pad(out, ((0, 0), (max_shift, max_shift), (max_shift, max_shift)))
    dy = rng.integers(0, 2 * max_shift + 1, n)
    dx = rng.integers(0, 2 * max_shift + 1, n)
    rows = dy[:, None] + np.arange(h)[None, :]  # (n, h)
    cols = dx[:, None] + np.arange(w)[None, :]  # (n, w)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def random_erase(
    pixels: np.ndarray,
    rng: np.random.Generator,
    probability: float = 0.5,
    area: tuple[float, float] = (0.02, 0.3),
    min_aspect: float = 0.3,
) -> np.ndarray:
    """(n, h, w) uint8 -> copy where each image, with `probability`, has one
    rectangle (a random share `area` of the image, aspect ratio between
    `min_aspect` and its inverse) replaced by uniform noise."""
    out = pixels.copy()
    n, h, w = pixels.shape
    chosen = np.flatnonzero(rng.random(n) < probability)
    sizes = rng.uniform(*area, len(chosen)) * h * w
    aspects = np.exp(rng.uniform(np.log(min_aspect), -np.log(min_aspect), len(chosen)))
    heights = np.clip(np.sqrt(sizes * aspects).astype(int), 1, h)
    widths = np.clip(np.sqrt(sizes / aspects).astype(int), 1, w)
    tops = rng.integers(0, h - heights + 1)
    lefts = rng.integers(0, w - widths + 1)
    for i, top, left, height, width in zip(chosen, tops, lefts, heights, widths, strict=True):
        out[i, top : top + height, left : left + width] = rng.integers(0, 256, (height, width), dtype=np.uint8)
    return out

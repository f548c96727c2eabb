"""Training-time augmentation as vectorised numpy: random horizontal flips and
shifts of up to `max_shift` pixels (zero padding). Product photos are
left-right symmetric in meaning, and shifts teach position invariance."""

from __future__ import annotations

import numpy as np


def flip_and_shift(pixels: np.ndarray, rng: np.random.Generator, max_shift: int = 2) -> np.ndarray:
    """(n, h, w) uint8 -> augmented copy of the same shape."""
    n, h, w = pixels.shape
    out = pixels.copy()
    flip = rng.random(n) < 0.5
    out[flip] = out[flip, :, ::-1]
    padded = np.pad(out, ((0, 0), (max_shift, max_shift), (max_shift, max_shift)))
    dy = rng.integers(0, 2 * max_shift + 1, n)
    dx = rng.integers(0, 2 * max_shift + 1, n)
    rows = dy[:, None] + np.arange(h)[None, :]  # (n, h)
    cols = dx[:, None] + np.arange(w)[None, :]  # (n, w)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]

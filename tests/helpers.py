"""Small builders shared by the tests: real images, encoded in memory."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from classifier.ml.datasets import load_split


def encode(image: Image.Image, fmt: str = "PNG", **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def fashion_png(index: int, split: str = "test") -> tuple[bytes, int]:
    """A real Fashion-MNIST image as PNG bytes, with its label index."""
    data = _split(split)
    return encode(Image.fromarray(data.images[index], "L")), int(data.labels[index])


_SPLITS: dict = {}


def _split(name: str):
    if name not in _SPLITS:
        _SPLITS[name] = load_split(name)
    return _SPLITS[name]


def photo_like(width: int = 64, height: int = 48, seed: int = 0) -> Image.Image:
    """A small RGB image with structure (gradients and a block), not noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), (x + y) % 256], axis=-1)
    rgb[height // 4 : height // 2, width // 4 : width // 2] = rng.integers(0, 255, 3)
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


def sign_in(page, base: str, username: str, password: str) -> None:
    """Sign in through the real form in a Playwright page, as a person would."""
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")

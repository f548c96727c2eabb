import numpy as np
import pytest
from PIL import Image

from classifier.ml.preprocessing import (
    bytes_to_product_pixels,
    fit_square,
    normalize,
    product_input,
    to_luminance,
)
from tests.helpers import encode, fashion_png


def _asymmetric(width=60, height=30) -> Image.Image:
    """Bright in the top-left corner only, so any rotation or flip shows."""
    array = np.zeros((height, width), dtype=np.uint8)
    array[: height // 3, : width // 4] = 255
    return Image.fromarray(array, "L")


def test_fashion_image_is_unchanged():
    data, _ = fashion_png(0)
    original = np.asarray(Image.open(__import__("io").BytesIO(data)))
    assert np.array_equal(bytes_to_product_pixels(data), original)


def test_model_input_shape_and_range():
    data, _ = fashion_png(1)
    x = product_input(data)
    assert x.shape == (28, 28, 1) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    # Training normalises stored pixels with the same function.
    assert np.array_equal(normalize(bytes_to_product_pixels(data)), x)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "LA", "P", "CMYK", "1", "I;16", "I", "F"])
def test_every_colour_mode_gives_the_same_luminance(mode):
    base = _asymmetric()
    if mode == "I;16":
        image = Image.fromarray(np.asarray(base, dtype=np.uint16) * 257, "I;16")
    elif mode == "I":
        image = Image.fromarray(np.asarray(base, dtype=np.int32) * 257, "I")
    elif mode == "F":
        image = Image.fromarray(np.asarray(base, dtype=np.float32) / 255.0, "F")
    else:
        image = base.convert(mode)
    out = np.asarray(to_luminance(image))
    assert out.dtype == np.uint8
    assert np.abs(out.astype(int) - np.asarray(base, dtype=int)).max() <= 2


def test_transparent_pixels_become_background():
    rgba = Image.new("RGBA", (20, 20), (255, 255, 255, 0))
    rgba.paste((255, 255, 255, 255), (0, 0, 10, 20))
    out = np.asarray(to_luminance(rgba))
    assert out[:, :10].min() == 255 and out[:, 10:].max() == 0


def test_palette_with_transparency():
    p = Image.new("P", (20, 20), 0)
    p.putpalette([255, 255, 255] + [0, 0, 0] * 255)
    p.paste(1, (10, 0, 20, 20))
    p.info["transparency"] = 0
    out = np.asarray(to_luminance(p))
    assert out.max() == 0  # white index 0 is transparent -> background


@pytest.mark.parametrize(
    "orientation,transpose",
    [
        (3, Image.Transpose.ROTATE_180),
        (6, Image.Transpose.ROTATE_90),  # stored rotated; viewer turns it 270
        (8, Image.Transpose.ROTATE_270),
        (2, Image.Transpose.FLIP_LEFT_RIGHT),
    ],
)
def test_exif_orientation_is_applied(orientation, transpose):
    upright = _asymmetric()
    stored = upright.transpose(transpose)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(stored.convert("RGB"), "PNG", exif=exif.tobytes())
    expected = bytes_to_product_pixels(encode(upright, "PNG"))
    got = bytes_to_product_pixels(data)
    assert np.abs(got.astype(int) - expected.astype(int)).mean() < 8


def test_non_square_is_padded_not_stretched():
    out = np.asarray(fit_square(Image.new("L", (100, 50), 255), 28))
    assert out.shape == (28, 28)
    assert out[0].max() == 0 and out[14].min() == 255  # padding above, content in the middle


def test_reduced_jpeg_decode_matches_full_decode():
    rng = np.random.default_rng(0)
    big = Image.fromarray(np.kron(rng.integers(0, 255, (28, 28), dtype=np.uint8), np.ones((64, 64), np.uint8)), "L")
    data = encode(big.convert("RGB"), "JPEG", quality=95)
    reduced = bytes_to_product_pixels(data).astype(int)
    full = np.asarray(fit_square(to_luminance(Image.open(__import__("io").BytesIO(data))), 28)).astype(int)
    assert np.abs(reduced - full).mean() < 3

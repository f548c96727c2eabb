"""Image bytes -> model input. The same functions serve training and serving.

Any image Pillow can open becomes the model's input: any size, any colour mode
(palette, alpha, CMYK, 16-bit, bilevel), any EXIF orientation. Plain Python:
no Django, no TensorFlow.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

PRODUCT_INPUT_SIDE = 28
# With the photo models active, JPEGs are decoded at reduced size down to this:
# enough for the 224-px backbone, the 256-px adult model and PDQ.
DECODE_SIDE = 256

# Fashion-MNIST draws bright products on black, so transparent areas and the
# padding around a non-square image become black too.
_BACKGROUND = 0


def open_image(data: bytes, *, target_side: int | None = None) -> Image.Image:
    """Open the first frame, upright, decoding JPEGs at reduced size when a
    small target allows it (DCT scaling: up to 8x fewer pixels decoded)."""
    image = Image.open(io.BytesIO(data))
    if target_side and image.format == "JPEG":
        # draft() keeps at least the requested size, so quality is not lost.
        image.draft(image.mode if image.mode in ("L", "RGB") else None, (target_side, target_side))
    image.seek(0)
    image.load()
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - a malformed EXIF block must not stop the upload.
        pass
    return image


def to_luminance(image: Image.Image) -> Image.Image:
    """Any mode -> 8-bit grayscale ("L"), alpha composited over the background."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        values = np.asarray(image, dtype=np.float64)
        scale = 65535.0 if mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        return Image.fromarray(np.clip(values / scale * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if mode == "F":
        values = np.asarray(image, dtype=np.float64)
        top = 1.0 if values.max(initial=0) <= 1.0 else 255.0
        return Image.fromarray(np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (_BACKGROUND, _BACKGROUND, _BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("L")
    if mode == "CMYK":
        image = image.convert("RGB")
    return image.convert("L")


def fit_square(image: Image.Image, side: int) -> Image.Image:
    """Scale to fit a side x side square, keeping the aspect ratio, and pad."""
    width, height = image.size
    scale = side / max(width, height)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if new_size != image.size:
        image = image.resize(new_size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    if new_size == (side, side):
        return image
    canvas = Image.new(image.mode, (side, side), _BACKGROUND)
    canvas.paste(image, ((side - new_size[0]) // 2, (side - new_size[1]) // 2))
    return canvas


def image_to_product_pixels(image: Image.Image, side: int = PRODUCT_INPUT_SIDE) -> np.ndarray:
    """A decoded image -> (side, side) uint8, the form the data sets are stored in."""
    return np.asarray(fit_square(to_luminance(image), side), dtype=np.uint8)


def normalize(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels (..., H, W) -> float32 (..., H, W, 1) in [0, 1]: the model's input."""
    return (np.asarray(pixels, dtype=np.float32) / 255.0)[..., np.newaxis]


def bytes_to_product_pixels(data: bytes, side: int = PRODUCT_INPUT_SIDE) -> np.ndarray:
    """Encoded image bytes -> (side, side) uint8."""
    return image_to_product_pixels(open_image(data, target_side=side), side)


def product_input(data: bytes, side: int = PRODUCT_INPUT_SIDE) -> np.ndarray:
    """Encoded image bytes -> one model input, float32 (side, side, 1)."""
    return normalize(bytes_to_product_pixels(data, side))


PHOTO_INPUT_SIDE = 224


def to_rgb(image: Image.Image) -> Image.Image:
    """Any mode -> RGB; transparency over white, as photos are shown on a page."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return to_luminance(image).convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def opaque_rgba(image: Image.Image) -> bool:
    """True for an RGBA image none of whose pixels lets anything show
    through (the same picture as its RGB conversion, over any background);
    False for any other image, whatever its mode."""
    return image.mode == "RGBA" and image.getchannel("A").getextrema()[0] == 255


def center_crop_square(image: Image.Image, side: int) -> Image.Image:
    """Resize the shorter side to `side`, then cut the centre square."""
    width, height = image.size
    scale = side / min(width, height)
    size = (max(side, round(width * scale)), max(side, round(height * scale)))
    image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    left, top = (size[0] - side) // 2, (size[1] - side) // 2
    return image.crop((left, top, left + side, top + side))


def photo_pixels(image: Image.Image, side: int = PHOTO_INPUT_SIDE) -> np.ndarray:
    """A decoded image -> (side, side, 3) uint8 RGB, the backbone's view of it."""
    return np.asarray(center_crop_square(to_rgb(image), side), dtype=np.uint8)


def photo_input(image: Image.Image, side: int = PHOTO_INPUT_SIDE) -> np.ndarray:
    """A decoded image -> float32 (side, side, 3) in -1..1 (EfficientNet-Lite's scaling)."""
    return np.asarray(photo_pixels(image, side), dtype=np.float32) / 127.5 - 1.0

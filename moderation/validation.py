"""Checks an uploaded file before anything is stored.

The content is sniffed (never the name or the declared type), the format is on
an allow-list, the byte and pixel caps are checked before pixels are decoded,
and the first frame is decoded once so that a truncated file is refused.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, UnidentifiedImageError

from moderation.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from moderation.web_decode import decode_for_validation

MIME_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
}


@dataclass(frozen=True)
class ImageInfo:
    format: str
    content_type: str
    width: int
    height: int
    byte_size: int
    sha256: str


def sniff_format(head: bytes) -> str | None:
    """The allowed format the first bytes announce, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith(b"BM"):
        return "BMP"
    return None


def validate_image(data: bytes, *, max_bytes: int, max_pixels: int, min_side: int) -> ImageInfo:
    """Return what we know of an acceptable image, or raise an ApplicationError."""
    size = len(data)
    if size == 0:
        raise InvalidInput("The file is empty.", code="empty_file")
    if size > max_bytes:
        raise PayloadTooLarge(
            f"The file is {size} bytes; the limit is {max_bytes} bytes.",
            code="file_too_large",
            detail={"bytes": size, "max_bytes": max_bytes},
        )
    sniffed = sniff_format(data[:16])
    if sniffed is None:
        raise UnsupportedMediaType(
            "The file is not an image in an accepted format (JPEG, PNG, WebP, GIF, BMP).",
            code="unsupported_format",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[sniffed])
            width, height = image.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(None, None, max_pixels) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidInput("The image header cannot be read.", code="corrupt_image", detail=str(exc)[:200]) from None
    if width * height > max_pixels:
        raise _too_many_pixels(width, height, max_pixels)
    if min(width, height) < min_side:
        raise InvalidInput(
            f"The image is {width}x{height}; each side must be at least {min_side} pixels.",
            code="image_too_small",
            detail={"width": width, "height": height, "min_side": min_side},
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.seek(0)
            # Bounded work in the web request (moderation.web_decode).
            decode_for_validation(image, fmt=sniffed, budget=settings.UPLOAD_WEB_DECODE_PIXELS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(width, height, max_pixels) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, MemoryError) as exc:
        raise InvalidInput(
            "The image data is damaged or incomplete.", code="corrupt_image", detail=str(exc)[:200]
        ) from None
    return ImageInfo(
        format=sniffed,
        content_type=MIME_TYPES[sniffed],
        width=width,
        height=height,
        byte_size=size,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _too_many_pixels(width: int | None, height: int | None, max_pixels: int) -> PayloadTooLarge:
    shown = f"{width}x{height}" if width else "too large"
    return PayloadTooLarge(
        f"The image is {shown}; the limit is {max_pixels} pixels.",
        code="too_many_pixels",
        detail={"width": width, "height": height, "max_pixels": max_pixels},
    )

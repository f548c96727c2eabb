"""Checks an uploaded file before anything is stored.

The content is sniffed (never the name or the declared type), the format is on
an allow-list, the byte and pixel caps are checked before pixels are decoded,
and the first frame is decoded once so that a truncated file is refused.
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, UnidentifiedImageError

from classifier.facade import frame_count
from moderation.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from moderation.format_limits import Structure, check_decoding_cost, check_structure
from moderation.humanize import sizes_over_limit
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
    frames: int = 1  # an animation's frame count (an APNG default image included)


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


def validate_image(
    data: bytes,
    *,
    max_bytes: int,
    max_pixels: int,
    min_side: int,
    max_frames: int | None = None,
    max_frame_pixels: int | None = None,
) -> ImageInfo:
    """Return what we know of an acceptable image, or raise an ApplicationError.

    Every frame of an animation is decoded by the worker (to judge what a
    viewer sees), so frames and frames x pixels are capped here, from the
    headers, before any of that work is queued."""
    size = len(data)
    if size == 0:
        raise InvalidInput("The file is empty.", code="empty_file")
    if size > max_bytes:
        raise PayloadTooLarge(
            "The file is {}; the limit is {}.".format(*sizes_over_limit(size, max_bytes)),
            code="file_too_large",
            detail={"bytes": size, "max_bytes": max_bytes},
        )
    sniffed = sniff_format(data[:16])
    if sniffed is None:
        raise UnsupportedMediaType(
            "The file is not an image in an accepted format (JPEG, PNG, WebP, GIF, BMP).",
            code="unsupported_format",
        )
    # What the structure costs (scans, segments, chunks, metadata, GIF frames),
    # from the bytes, before Pillow parses a header (moderation.format_limits).
    structure = check_structure(data, sniffed, max_frames=max_frames)
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
    check_decoding_cost(structure)
    frames = _check_frames(image, structure, width, height, max_frames, max_frame_pixels)
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
        frames=frames,
    )


def validate_upload_image(data: bytes) -> ImageInfo:
    """`validate_image` with the limits every image entering the platform meets
    (an upload, a bank's image file, a custom category's imported example)."""
    return validate_image(
        data,
        max_bytes=settings.UPLOAD_MAX_BYTES,
        max_pixels=settings.UPLOAD_MAX_PIXELS,
        min_side=settings.UPLOAD_MIN_SIDE,
        max_frames=settings.UPLOAD_MAX_FRAMES,
        max_frame_pixels=settings.UPLOAD_MAX_FRAME_PIXELS,
    )


def _check_frames(
    image: Image.Image,
    structure: Structure,
    width: int,
    height: int,
    max_frames: int | None,
    max_frame_pixels: int | None,
) -> int:
    """The frame count (GIF: by walking the block headers, no pixels decoded;
    APNG and WebP: from the animation header), refused over the caps. A PNG
    whose acTL declares another number of frames than it holds fcTL chunks
    (one frame included; fcTL without acTL too) is refused: decoders disagree
    on which to play, and the one judged must be the one shown."""
    try:
        # A GIF's frames were counted from its blocks, up to one past the cap:
        # Pillow's count walks every frame, however many, so it is asked only
        # within the cap (and the larger count wins: the worker plays Pillow's).
        counted = structure.frames
        if counted is not None and max_frames is not None and counted > max_frames:
            frames = counted
        else:
            frames = max(counted or 1, frame_count(image))
        image.seek(0)
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise InvalidInput(
            "The animation's frames cannot be read.", code="corrupt_image", detail=str(exc)[:200]
        ) from None
    if image.format == "PNG":
        # Also where Pillow counts one frame: an acTL declaring 1 frame before
        # 2 fcTL chunks played two in a browser while one was judged.
        declared, controls = structure.declared_frames, structure.frame_controls
        if (declared is not None or controls) and declared != controls:
            raise InvalidInput(
                f"The animation declares {declared} frames but holds {controls}.",
                code="corrupt_image",
                detail={"declared": declared, "frames": controls},
            )
    total = frames * width * height
    if (max_frames is not None and frames > max_frames) or (max_frame_pixels is not None and total > max_frame_pixels):
        # A GIF's count stops one past the cap: "at least".
        counted = f"at least {frames}" if structure.frames is not None and frames > (max_frames or frames) else frames
        raise PayloadTooLarge(
            f"The animation has {counted} frames of {width}x{height} ({total} pixels to decode); "
            f"the limits are {max_frames} frames and {max_frame_pixels} frame pixels.",
            code="animation_too_large",
            detail={
                "frames": frames,
                "width": width,
                "height": height,
                "frame_pixels": total,
                "max_frames": max_frames,
                "max_frame_pixels": max_frame_pixels,
            },
        )
    return frames


def _too_many_pixels(width: int | None, height: int | None, max_pixels: int) -> PayloadTooLarge:
    shown = f"{width}x{height}" if width else "too large"
    return PayloadTooLarge(
        f"The image is {shown}; the limit is {max_pixels} pixels.",
        code="too_many_pixels",
        detail={"width": width, "height": height, "max_pixels": max_pixels},
    )

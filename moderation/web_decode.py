"""How much of an upload the web request decodes: bounded.

A small file can hold very many pixels (a 116 KB PNG of 6320x6320 decodes to
120 MB). The web decodes only what validation needs, within
UPLOAD_WEB_DECODE_PIXELS: JPEG at a reduced scale (every byte is still
entropy-decoded, so damage is still found), other formats in full only when
they are small enough. A larger PNG has its chunk structure and CRCs checked
without inflating the pixels; the worker's full decode then finds a damaged
pixel stream and the upload ends `failed`, never half-stored.
"""

from __future__ import annotations

from PIL import Image


def decode_for_validation(image: Image.Image, *, fmt: str, budget: int) -> int:
    """Decode enough of `image` to refuse a damaged file; return the number of
    pixels actually decoded (never more than `budget` unless a JPEG's 1/8
    scale is larger, which the pixel cap bounds to UPLOAD_MAX_PIXELS / 64)."""
    width, height = image.size
    if fmt == "JPEG":
        image.draft(image.mode if image.mode in ("L", "RGB") else None, (max(1, width // 8), max(1, height // 8)))
        image.load()
        return image.size[0] * image.size[1]
    if width * height <= budget:
        image.load()
        return width * height
    image.verify()  # PNG: every chunk's CRC and the file's end; others: the header already read
    return 0

"""A corpus of bad and odd files, built in memory, each with what must happen to it.

`expected` is the stable error code the platform must answer with, or None
when the file must be accepted.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

from tests.helpers import encode, photo_like


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    expected: str | None  # error code, or None = accepted


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims a size but which carries no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")


def png_bomb(width: int, height: int) -> bytes:
    """A real, valid PNG of a huge blank image that compresses to little."""
    row = b"\x00" + b"\x00" * ((width + 7) // 8)  # filter byte + 1-bit pixels
    raw = zlib.compress(row * height, 9)
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", raw) + _png_chunk(b"IEND", b"")


def gif_giant_canvas() -> bytes:
    """A tiny GIF whose logical screen claims 60000 x 60000 pixels."""
    data = bytearray(encode(Image.new("P", (16, 16), 1), "GIF"))
    data[6:10] = struct.pack("<HH", 60000, 60000)
    return bytes(data)


def jpeg_giant_header() -> bytes:
    """A JPEG whose frame header claims 50000 x 50000 pixels."""
    data = bytearray(encode(Image.new("RGB", (16, 16), "white"), "JPEG"))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 50000, 50000)
    return bytes(data)


def gif_many_frames(frames: int = 300) -> bytes:
    images = [Image.new("P", (32, 32), i % 256) for i in range(frames)]
    return encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=10)


def jpeg_with_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(photo_like(80, 40), "JPEG", exif=exif.tobytes())


def malformed_exif_jpeg() -> bytes:
    good = encode(photo_like(40, 40), "JPEG")
    # An APP1 Exif segment whose TIFF header is garbage.
    segment = b"Exif\x00\x00" + b"II*\x00\xff\xff\xff\x7f" + b"\x00" * 16
    app1 = b"\xff\xe1" + struct.pack(">H", len(segment) + 2) + segment
    return good[:2] + app1 + good[2:]


def build_corpus() -> list[Case]:
    rgb = photo_like(64, 48)
    jpeg = encode(rgb, "JPEG", quality=90)
    png = encode(rgb, "PNG")
    sixteen_bit = Image.fromarray((np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 20), "I;16")
    palette_alpha = rgb.convert("P", palette=Image.Palette.ADAPTIVE)
    palette_alpha.info["transparency"] = 0
    return [
        # refused
        Case("empty", b"", "empty_file"),
        Case("plain text", b"hello, this is not an image\n" * 10, "unsupported_format"),
        Case("html", b"<!doctype html><html><script>alert(1)</script></html>", "unsupported_format"),
        Case(
            "svg with script",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "unsupported_format",
        ),
        Case("pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "unsupported_format"),
        Case("tiff", encode(rgb, "TIFF"), "unsupported_format"),
        Case(
            "random bytes",
            np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
            "unsupported_format",
        ),
        Case("truncated jpeg", jpeg[: len(jpeg) // 2], "corrupt_image"),
        Case("truncated png", png[: len(png) // 2], "corrupt_image"),
        Case("jpeg magic then garbage", b"\xff\xd8\xff\xe0" + b"\x00" * 64, "corrupt_image"),
        Case("png header-only giant", png_header_only(100_000, 100_000), "too_many_pixels"),
        Case("png bomb 8000x6000", png_bomb(8000, 6000), "too_many_pixels"),
        Case("gif giant logical screen", gif_giant_canvas(), "too_many_pixels"),
        Case("jpeg giant frame header", jpeg_giant_header(), "too_many_pixels"),
        Case("gif header only", b"GIF89a" + b"\x00" * 7, "corrupt_image"),
        Case("truncated webp", encode(rgb, "WEBP")[:40], "corrupt_image"),
        Case("tiny 8x8", encode(Image.new("RGB", (8, 8), "white"), "PNG"), "image_too_small"),
        Case("extreme aspect 4000x4", encode(Image.new("L", (4000, 4)), "PNG"), "image_too_small"),
        # accepted
        Case("jpeg", jpeg, None),
        Case("png", png, None),
        Case("webp", encode(rgb, "WEBP"), None),
        Case("bmp", encode(rgb, "BMP"), None),
        Case("gif 2000 frames", gif_many_frames(2000), None),
        Case("jpeg with trailing html payload", jpeg + b"<html><script>alert(1)</script></html>", None),
        Case("extreme aspect 2000x16", encode(Image.new("L", (2000, 16), 200), "PNG"), None),
        Case("cmyk jpeg", encode(rgb.convert("CMYK"), "JPEG"), None),
        Case("16-bit png", encode(sixteen_bit, "PNG"), None),
        Case("palette with alpha", encode(palette_alpha, "PNG"), None),
        Case("rgba png", encode(rgb.convert("RGBA"), "PNG"), None),
        Case("exif rotated jpeg", jpeg_with_orientation(6), None),
        Case("malformed exif", malformed_exif_jpeg(), None),
        Case("png with trailing zip payload", png + b"PK\x03\x04" + b"\x00" * 100, None),
        Case("grayscale 16x16", encode(Image.new("L", (16, 16), 128), "PNG"), None),
    ]


CORPUS = build_corpus()


def by_name(name: str) -> Case:
    return next(case for case in CORPUS if case.name == name)


__all__ = ["CORPUS", "Case", "by_name"]

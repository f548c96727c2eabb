"""The decompression bomb of issue 16 (an RGB PNG, where tests.moderation.corpus
has a 1-bit one), built row by row without holding its pixels."""

from __future__ import annotations

import struct
import zlib
from functools import lru_cache

from tests.moderation.corpus import _png_chunk as _chunk


@lru_cache(maxsize=4)
def png_bomb(side: int = 6320, *, damaged: bool = False) -> bytes:
    """An RGB PNG of side x side black pixels (6320: about 120 KB, 40 M pixels).
    `damaged`: the compressed pixel stream is cut short and garbage follows,
    with valid chunk CRCs, so only a full decode can tell."""
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + 3 * side)
    parts = [compressor.compress(row) for _ in range(side)]
    parts.append(compressor.flush())
    pixels = b"".join(parts)
    if damaged:
        pixels = pixels[: len(pixels) // 2] + b"\xff" * 64
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")

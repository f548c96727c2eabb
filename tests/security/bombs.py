"""Hostile inputs built here, never stored: the decompression bomb of issue 16
(an RGB PNG, where tests.moderation.corpus has a 1-bit one, built row by row
without holding its pixels), and issue 28's inputs whose cost is in a format
feature (scans, markers, chunks, profiles, text, frames)."""

from __future__ import annotations

import io
import struct
import zlib
from functools import lru_cache

from PIL import Image

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


# --- Issue 28, item 1: inputs whose cost is in a format feature, not in pixels. ---


def _jpeg(image: Image.Image, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **params)
    return buffer.getvalue()


@lru_cache(maxsize=8)
def jpeg_scan_bomb(scans: int = 1000, side: int = 6000) -> bytes:
    """A progressive JPEG of side x side (one flat colour, about 210 KB) with
    `scans` copies of its last scan (a full-size AC refinement of the luma,
    59 bytes) before its end: each costs the decoder a pass over every block."""
    data = _jpeg(Image.new("RGB", (side, side), (120, 130, 140)), quality=90, progressive=True)
    end = data.rindex(b"\xff\xd9")
    last = data[data.rindex(b"\xff\xda") : end]
    return data[:end] + last * scans + data[end:]


@lru_cache(maxsize=4)
def jpeg_marker_flood(segments: int = 1_000_000) -> bytes:
    """A small JPEG with `segments` empty comment segments (4 bytes each)
    between its header and its first scan: each is a round of the reader's
    marker loop (in Python, in Pillow)."""
    data = _jpeg(Image.new("RGB", (64, 64), (90, 40, 200)))
    return data[:2] + b"\xff\xfe\x00\x02" * segments + data[2:]


@lru_cache(maxsize=4)
def jpeg_icc_bomb(side: int = 4000, megabytes: int = 15) -> bytes:
    """A side x side JPEG whose ICC profile (APP2 chunks of 64 KB) is
    `megabytes` long: a valid sRGB profile padded with a huge tag table."""
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    padded = profile + b"\x00" * (megabytes * 1024 * 1024 - len(profile))
    padded = struct.pack(">I", len(padded)) + padded[4:]
    return _jpeg(Image.new("RGB", (side, side), (10, 200, 30)), icc_profile=padded)


@lru_cache(maxsize=4)
def png_chunk_flood(chunks: int = 1_000_000) -> bytes:
    """A 64x64 PNG whose pixel stream is cut into `chunks` IDAT chunks (of a
    byte or two): each is a round of the reader's chunk loop."""
    raw = zlib.compress(b"".join(b"\x00" + bytes(64 * 3) for _ in range(64)), 9)
    raw = raw + b"\x00" * max(0, chunks - len(raw))  # zlib ignores what follows its end
    header = struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)
    step = max(1, len(raw) // chunks)
    idats = b"".join(_chunk(b"IDAT", raw[i : i + step]) for i in range(0, len(raw), step))
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + idats + _chunk(b"IEND", b"")


@lru_cache(maxsize=4)
def png_text_bomb(chunks: int = 200) -> bytes:
    """A 64x64 PNG with `chunks` zTXt chunks, each inflating to 1 MB (Pillow's
    per-chunk limit), after its pixels: 200 MB of text for a 200 KB file."""
    pixels = zlib.compress(b"".join(b"\x00" + bytes(64 * 3) for _ in range(64)), 9)
    text = zlib.compress(b"A" * (1024 * 1024 - 1), 9)
    header = struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)
    texts = b"".join(_chunk(b"zTXt", b"k%d\x00\x00" % i + text) for i in range(chunks))
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + texts + _chunk(b"IEND", b"")


@lru_cache(maxsize=4)
def png_iccp_bomb(side: int = 4000) -> bytes:
    """A side x side PNG whose iCCP chunk inflates to an sRGB profile padded to 1 MB
    (what Pillow's limit allows) with pixels an ICC transform then converts."""
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    padded = profile + b"\x00" * (1024 * 1024 - 1 - len(profile))
    padded = struct.pack(">I", len(padded)) + padded[4:]
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (10, 200, 30)).save(buffer, "PNG", icc_profile=padded, compress_level=1)
    return buffer.getvalue()


@lru_cache(maxsize=4)
def gif_frame_flood(frames: int = 500_000) -> bytes:
    """A 16x16 GIF of `frames` frames of one pixel each (about 20 bytes a
    frame): the frame count itself is a walk over every frame."""
    screen = b"GIF89a" + struct.pack("<HHBBB", 16, 16, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    frame = (
        b"\x21\xf9\x04\x00\x01\x00\x00\x00" + b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    )
    return screen + frame * frames + b"\x3b"


@lru_cache(maxsize=4)
def gif_subblock_flood(side: int = 2000) -> bytes:
    """A side x side GIF of noise (about 4 MB of LZW codes) whose one frame's
    pixel data comes in 1-byte sub-blocks: 4 M blocks, each walked to count frames."""
    import numpy as np

    noise = np.random.default_rng(28).integers(0, 256, (side, side), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise, "L").convert("P").save(buffer, "GIF")
    data = buffer.getvalue()
    position = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)  # after the global colour table
    while data[position] == 0x21:  # extensions: label, then sub-blocks up to an empty one
        position += 2
        while data[position]:
            position += 1 + data[position]
        position += 1
    assert data[position] == 0x2C and not data[position + 9] & 0x80  # the image, no local colour table
    start = position + 10  # its LZW code size
    blocks, position = [], start + 1
    while data[position]:
        blocks.append(data[position + 1 : position + 1 + data[position]])
        position += 1 + data[position]
    stream = b"".join(blocks)
    one_byte = b"".join(b"\x01" + stream[i : i + 1] for i in range(len(stream)))
    return data[: start + 1] + one_byte + b"\x00" + data[position + 1 :]


@lru_cache(maxsize=4)
def gif_at_the_frame_caps(frames: int = 5000, side: int = 109) -> bytes:
    """An animation at the caps (UPLOAD_MAX_FRAMES frames, about
    UPLOAD_MAX_FRAME_PIXELS frame pixels), each frame different: every frame
    is decoded, composited and compared by the worker."""
    palette = Image.new("P", (side, side))
    images = []
    for i in range(frames):
        frame = palette.copy()
        frame.paste(i % 250, (0, 0, side, side))
        frame.putpixel((i % side, (i // side) % side), 255)
        images.append(frame)
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=20, loop=0)
    return buffer.getvalue()


@lru_cache(maxsize=4)
def gif_junk_flood(megabytes: int = 19) -> bytes:
    """A 16x16 GIF of two frames with `megabytes` of zero bytes between them,
    which a reader skips one at a time."""
    frames = gif_frame_flood(2)
    second = frames.index(b"\x21\xf9", 20)
    return frames[:second] + b"\x00" * (megabytes * 1024 * 1024) + frames[second:]


@lru_cache(maxsize=4)
def bmp_rle_flood(side: int = 3160) -> bytes:
    """A side x side RLE8 BMP whose every pixel is a run of one (two bytes a
    pixel: 3160 is 10 MP in 20 MB), decoded by Pillow in Python, a run at a time."""
    row = b"\x01\x07" * side + b"\x00\x00"  # runs of one pixel, then the end of the line
    pixels = row * side + b"\x00\x01"  # the end of the bitmap
    palette = b"".join(struct.pack("<BBBB", i, i, i, 0) for i in range(256))
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, side, side, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels

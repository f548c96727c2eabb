"""What a file's structure costs to decode, bounded before any decoder reads it.

Pixels are capped by the header (validation), but a small file can cost far
more than its pixels through a format feature: a progressive JPEG repeats its
scans (each a pass over every 8x8 block of the components it covers: 1,000
empty scans of a 6000x6000 JPEG, 270 KB, cost 13 s of CPU), a JPEG or a PNG
splits itself into a million segments or chunks (each a round of Pillow's
reader loop, in Python), a GIF holds a million one-pixel frames or its pixels
in one-byte sub-blocks (each walked in Python to count the frames), and
metadata (ICC profiles, text) is read and inflated whatever the pixels.

These walks read only the markers and chunk headers, with the scan data
skipped at C speed (a regular expression finds the next marker), stop at the
first limit passed, and refuse with a stable code. They run on the bytes
before Pillow opens them (Pillow's own header parsing is one of the costs).
Measured in docs/benchmarks.md (bench.hostile_intake).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from moderation.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

# A progressive JPEG from libjpeg or mozjpeg has about 10 scans and passes
# over each block about 5 times; a limit far above both.
JPEG_MAX_SCANS = 100
# 8x8 blocks summed over every scan's components: the progressive decoder's
# work (about 23 ns a block here). 12 M is a 40 MP 4:4:4 progressive JPEG
# with room to spare, about 0.3 s.
JPEG_MAX_SCAN_BLOCKS = 12_000_000
# Segments with a length (APPn, COM, DQT, DHT, SOFn, SOS, ...), the whole
# file: a camera JPEG has about 15, one with a large extended XMP a few hundred.
JPEG_MAX_SEGMENTS = 2_000
# Bytes outside the segments (before a marker, escaped 0xFF, fill bytes
# before a marker): a file from a camera or an editor has none or a few.
JPEG_MAX_JUNK_BYTES = 64 * 1024
# Baseline, extended and progressive Huffman JPEG: what browsers show.
# Lossless, hierarchical and arithmetic-coded JPEGs are refused (browsers do
# not show them, and a lossless one cannot be decoded at a reduced size).
_JPEG_SOF_ALLOWED = frozenset({0xC0, 0xC1, 0xC2})
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length, as Pillow's header reader takes them (it reads
# none for JPG and JPGn either): the walk must see the bytes after them as
# Pillow does, or a "length" could hide from it what Pillow reads a byte at a time.
_JPEG_NO_LENGTH = frozenset({0x01, 0xC8, *range(0xD0, 0xDA), *range(0xF0, 0xFE)})
# An ICC profile (JPEG APP2 chunks; a PNG's iCCP, compressed) and all metadata
# together (JPEG APPn and COM; PNG text, iCCP and eXIf chunks). A camera's
# profile is a few KB, a printer's up to a few hundred; a portrait photo's
# depth map (extended XMP) a few MB.
ICC_MAX_BYTES = 1024 * 1024
METADATA_MAX_BYTES = 8 * 1024 * 1024
# A real PNG has a few thousand chunks at most (an APNG about three per frame).
PNG_MAX_CHUNKS = 20_000
# Text chunks each inflate to up to 1 MB in Pillow: a few dozen are plenty.
PNG_MAX_TEXT_CHUNKS = 64
# GIF blocks walked to count the frames (extensions, images, data sub-blocks
# of up to 255 bytes): a 20 MB GIF in full sub-blocks has about 82,000.
GIF_MAX_BLOCKS = 250_000
# Bytes between blocks that are none (a decoder skips them one at a time).
GIF_MAX_JUNK_BYTES = 64 * 1024
_GIF_INTRODUCER = re.compile(rb"[!,;]")

# A run-length compressed BMP (RLE8, RLE4) is decoded by Pillow in Python, a
# round per run of two bytes: 4 MB of runs is about 0.4 s.
BMP_MAX_RLE_BYTES = 4 * 1024 * 1024

# After a scan's entropy-coded data: the next 0xFF that is not a stuffed zero,
# a restart marker or fill.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_NOT_FILL = re.compile(rb"[^\xff]")


@dataclass(frozen=True)
class Structure:
    scans: int = 0  # JPEG
    scan_blocks: int = 0  # JPEG
    segments: int = 0  # JPEG segments, PNG chunks, GIF blocks
    metadata_bytes: int = 0
    frames: int | None = None  # GIF: frames counted (at most max_frames + 1)
    declared_frames: int | None = None  # PNG: what an acTL declares (None: no acTL)
    frame_controls: int = 0  # PNG: fcTL chunks held


def check_structure(data: bytes, fmt: str, *, max_frames: int | None = None) -> Structure:
    """The file's structure, or an ApplicationError for the first limit it
    passes that would make opening it costly (segments, chunks, metadata, GIF
    blocks). A JPEG's walk stops at its scan limits; check_decoding_cost
    refuses it."""
    if fmt == "JPEG":
        return _jpeg(data)
    if fmt == "PNG":
        return _png(data)
    if fmt == "GIF":
        return _gif(data, max_frames)
    if fmt == "BMP":
        return _bmp(data)
    return Structure()


def check_decoding_cost(structure: Structure) -> None:
    """Refuse what passed the structure walk but would cost too much to
    decode: a JPEG's scans. Called after the header's pixel cap, so that a
    giant frame is refused as too many pixels."""
    if structure.scans > JPEG_MAX_SCANS or structure.scan_blocks > JPEG_MAX_SCAN_BLOCKS:
        raise _too_costly(
            f"The JPEG has too many scans to decode ({structure.scans} or more, over "
            f"{structure.scan_blocks} blocks); the limits are {JPEG_MAX_SCANS} scans and {JPEG_MAX_SCAN_BLOCKS} blocks.",
            "too_many_scans",
            scans=structure.scans,
            scan_blocks=structure.scan_blocks,
            max_scans=JPEG_MAX_SCANS,
            max_scan_blocks=JPEG_MAX_SCAN_BLOCKS,
        )


def _too_costly(message: str, code: str, **detail: int) -> PayloadTooLarge:
    return PayloadTooLarge(message, code=code, detail=detail)


def _metadata_checked(metadata: int, icc: int) -> None:
    if icc > ICC_MAX_BYTES:
        raise _too_costly(
            f"The image's colour profile is {icc} bytes; the limit is {ICC_MAX_BYTES}.",
            "metadata_too_large",
            icc_bytes=icc,
            max_icc_bytes=ICC_MAX_BYTES,
        )
    if metadata > METADATA_MAX_BYTES:
        raise _too_costly(
            f"The image carries {metadata} bytes of metadata; the limit is {METADATA_MAX_BYTES}.",
            "metadata_too_large",
            metadata_bytes=metadata,
            max_metadata_bytes=METADATA_MAX_BYTES,
        )


def _jpeg(data: bytes) -> Structure:
    size = len(data)
    position, scans, blocks, segments, metadata, icc, junk, image_scans = 2, 0, 0, 0, 0, 0, 0, 0
    component_blocks: dict[int, int] = {}
    while position + 4 <= size:
        marker = data[position + 1]
        if data[position] != 0xFF or marker == 0x00:
            # Bytes that are no segment (an escaped 0xFF included): decoders skip
            # to the next marker, Pillow's header reader one or two bytes at a
            # time, in Python (10 M escaped bytes: 2 s).
            found = _NEXT_MARKER.search(data, position + 1)
            junk += (found.start() if found else size) - position
            if junk > JPEG_MAX_JUNK_BYTES:
                raise _junk(JPEG_MAX_JUNK_BYTES)
            if found is None:
                break
            position = found.start()
            continue
        if marker == 0xFF:  # fill before a marker: Pillow's header reader takes it a byte at a time
            following = _NOT_FILL.search(data, position + 1)
            end = following.start() - 1 if following else size
            junk += end - position
            if junk > JPEG_MAX_JUNK_BYTES:
                raise _junk(JPEG_MAX_JUNK_BYTES)
            position = max(end, position + 1)
            continue
        if marker == 0xD9 and image_scans:  # EOI: another image may follow (MPO, a gain map); a trailer may not be JPEG
            following = data.find(b"\xff\xd8\xff", position + 2)
            if following < 0:
                break
            position, component_blocks, image_scans = following + 2, {}, 0
            continue
        if marker in _JPEG_NO_LENGTH:  # (an EOI before any scan: Pillow reads on)
            position += 2
            continue
        (length,) = struct.unpack_from(">H", data, position + 2)
        body = data[position + 4 : position + 2 + length]
        segments += 1
        if segments > JPEG_MAX_SEGMENTS:
            raise _too_costly(
                f"The JPEG has more than {JPEG_MAX_SEGMENTS} segments.",
                "too_many_segments",
                max_segments=JPEG_MAX_SEGMENTS,
            )
        if marker in _JPEG_SOF:
            if marker not in _JPEG_SOF_ALLOWED:
                raise UnsupportedMediaType(
                    "The JPEG is lossless, hierarchical or arithmetic-coded; only baseline and "
                    "progressive JPEGs (what browsers show) are accepted.",
                    code="unsupported_jpeg_coding",
                    detail={"sof": f"0x{marker:02X}"},
                )
            component_blocks = _jpeg_component_blocks(body)
        elif marker == 0xDA:  # SOS: count it, then skip its entropy-coded data
            scans += 1
            image_scans += 1
            count = body[0] if body else 0
            blocks += sum(component_blocks.get(c, 0) for c in body[1 : 1 + 2 * count : 2])
            if scans > JPEG_MAX_SCANS or blocks > JPEG_MAX_SCAN_BLOCKS:
                break  # refused by check_decoding_cost, once the pixel cap has had its say
            found = _NEXT_MARKER.search(data, position + 2 + length)
            if found is None:
                break
            position = found.start()
            continue
        elif 0xE0 <= marker <= 0xEF or marker == 0xFE:
            metadata += length
            if marker == 0xE2 and body.startswith(b"ICC_PROFILE\x00"):
                icc += max(0, length - 16)
            _metadata_checked(metadata, icc)
        position += 2 + length
    return Structure(scans=scans, scan_blocks=blocks, segments=segments, metadata_bytes=metadata)


def _junk(limit: int) -> InvalidInput:
    return InvalidInput(
        f"The JPEG has more than {limit} bytes outside its segments.",
        code="corrupt_image",
        detail={"max_junk_bytes": limit},
    )


def _jpeg_component_blocks(sof: bytes) -> dict[int, int]:
    """8x8 blocks of each component (by id) of a frame header."""
    if len(sof) < 6:
        return {}
    height, width, count = struct.unpack_from(">HHB", sof, 1)
    parts = [(sof[6 + 3 * i], sof[7 + 3 * i] >> 4, sof[7 + 3 * i] & 15) for i in range(count) if 8 + 3 * i <= len(sof)]
    if not parts:
        return {}
    h_max, v_max = max(max(h for _, h, _ in parts), 1), max(max(v for _, _, v in parts), 1)
    return {ident: _ceil(_ceil(width * h, h_max), 8) * _ceil(_ceil(height * v, v_max), 8) for ident, h, v in parts}


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _png(data: bytes) -> Structure:
    position, chunks, texts, metadata, icc, declared, controls = 8, 0, 0, 0, 0, None, 0
    size = len(data)
    while position + 8 <= size:
        length, kind = struct.unpack_from(">I4s", data, position)
        chunks += 1
        if chunks > PNG_MAX_CHUNKS:
            raise _too_costly(
                f"The PNG has more than {PNG_MAX_CHUNKS} chunks.", "too_many_chunks", max_chunks=PNG_MAX_CHUNKS
            )
        if kind == b"acTL" and length >= 8 and position + 12 <= size:
            declared = struct.unpack_from(">I", data, position + 8)[0]
        elif kind == b"fcTL":
            controls += 1
        elif kind in (b"tEXt", b"zTXt", b"iTXt"):
            texts += 1
            metadata += length
            if texts > PNG_MAX_TEXT_CHUNKS:
                raise _too_costly(
                    f"The PNG has more than {PNG_MAX_TEXT_CHUNKS} text chunks.",
                    "metadata_too_large",
                    max_text_chunks=PNG_MAX_TEXT_CHUNKS,
                )
        elif kind in (b"iCCP", b"eXIf"):
            metadata += length
            icc += length if kind == b"iCCP" else 0
        elif kind == b"IEND":
            break
        _metadata_checked(metadata, icc)
        position += 12 + length
    return Structure(segments=chunks, metadata_bytes=metadata, declared_frames=declared, frame_controls=controls)


def _gif(data: bytes, max_frames: int | None) -> Structure:
    """Frames counted by walking the blocks, stopping at max_frames + 1."""
    if len(data) < 13:
        return Structure()
    flags = data[10]
    position = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    frames, blocks, junk, size = 0, 0, 0, len(data)
    while position < size and (max_frames is None or frames <= max_frames):
        introducer = data[position]
        if introducer == 0x3B:  # trailer
            break
        if introducer == 0x21:  # extension: label, then sub-blocks
            position += 2
        elif introducer == 0x2C:  # image: descriptor, local colour table, LZW code size, sub-blocks
            if position + 10 > size:
                break
            local = data[position + 9]
            position += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0) + 1
            frames += 1
        else:  # not a block: Pillow skips such bytes one at a time, in Python
            found = _GIF_INTRODUCER.search(data, position)
            junk += (found.start() if found else size) - position
            if junk > GIF_MAX_JUNK_BYTES:
                raise InvalidInput(
                    f"The GIF has more than {GIF_MAX_JUNK_BYTES} bytes outside its blocks.",
                    code="corrupt_image",
                    detail={"max_junk_bytes": GIF_MAX_JUNK_BYTES},
                )
            if found is None:
                break
            position = found.start()
            continue
        while position < size and data[position]:
            blocks += 1
            if blocks > GIF_MAX_BLOCKS:
                raise _too_costly(
                    f"The GIF has more than {GIF_MAX_BLOCKS} blocks.", "too_many_chunks", max_blocks=GIF_MAX_BLOCKS
                )
            position += 1 + data[position]
        position += 1
    return Structure(segments=blocks, frames=frames)


def _bmp(data: bytes) -> Structure:
    if len(data) < 34:
        return Structure()
    (offset,) = struct.unpack_from("<I", data, 10)
    (header,) = struct.unpack_from("<I", data, 14)
    compression = struct.unpack_from("<I", data, 30)[0] if header >= 40 else 0
    runs = len(data) - min(offset, len(data))
    if compression in (1, 2) and runs > BMP_MAX_RLE_BYTES:  # BI_RLE8, BI_RLE4
        raise _too_costly(
            f"The BMP's run-length data is {runs} bytes; the limit is {BMP_MAX_RLE_BYTES}.",
            "too_many_chunks",
            rle_bytes=runs,
            max_rle_bytes=BMP_MAX_RLE_BYTES,
        )
    return Structure(segments=runs if compression in (1, 2) else 0)

"""Frames of an animated image as a viewer sees them, and which of them to judge.

Browsers play every frame of an animated GIF, APNG or WebP, so judging only
the first one lets a harmless opening frame (or an APNG default image that is
not part of the animation at all) carry anything after it. Each frame here is
composited as a browser shows it: Pillow's seek applies the disposal and
blending of the frames before it, and the frame is copied out as RGBA (as RGB
when every pixel of it is opaque, which is most animations: the same picture,
without an alpha channel for every model's preprocessing to composite away).

A short animation is judged whole; a long one by evenly spaced frames plus
the frames where the picture changes most (scene changes), found in the same
single pass that decodes every frame (seeking to a frame decodes those before
it anyway). Plain Python: no Django.
"""

from __future__ import annotations

import heapq
import io
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from classifier.ml.preprocessing import opaque_rgba, to_rgb

# Browsers play a frame delay under 20 ms (0 or 10 ms) as 100 ms.
BROWSER_MIN_DELAY_MS = 20
BROWSER_SHORT_DELAY_MS = 100
# Frames are judged at most this size: PDQ reduces to 512 px a side anyway,
# and the photo models read 224 to 256 px.
FRAME_SIDE = 512
# A frame whose 32x32 luminance differs from the previous one by at least this
# mean (of 255) is a scene change worth judging in a long animation.
SCENE_CHANGE_MIN = 6.0
_SIGNATURE_SIDE = 32
THUMBNAIL_SIDE = 192


@dataclass(frozen=True)
class Frame:
    index: int  # Pillow's frame number (0 is an APNG's default image when it has one)
    timestamp_ms: int | None  # when a browser shows it; None: not part of the animation
    duration_ms: int  # as a browser plays it
    image: Image.Image  # composited, at most FRAME_SIDE a side; RGB when opaque, else RGBA
    default_image: bool = False  # an APNG default image, shown only by viewers without APNG
    scene_change: float = 0.0  # mean luminance change from the frame before, 0..255


def frame_count(image: Image.Image) -> int:
    """How many frames an opened image holds (1 for a still)."""
    return int(getattr(image, "n_frames", 1) or 1)


def is_animation(image: Image.Image) -> bool:
    return frame_count(image) > 1


def has_default_image(image: Image.Image) -> bool:
    """An APNG whose default image is not a frame of the animation."""
    return image.format == "PNG" and bool(image.info.get("default_image"))


def played_duration(raw: object) -> int:
    """A frame's delay as browsers play it."""
    try:
        ms = int(float(raw or 0))
    except (TypeError, ValueError):
        ms = 0
    return BROWSER_SHORT_DELAY_MS if ms < BROWSER_MIN_DELAY_MS else ms


def iter_frames(image: Image.Image) -> Iterator[tuple[int, int | None, int, bool, Image.Image]]:
    """(index, timestamp_ms, duration_ms, default_image, full-size RGBA frame)
    for every frame, in order, each composited as a browser shows it."""
    default = has_default_image(image)
    clock = 0
    for index in range(frame_count(image)):
        image.seek(index)
        frame = image.convert("RGBA")  # a copy: the next seek does not change it
        is_default = default and index == 0
        duration = played_duration(image.info.get("duration"))
        if is_default:
            yield index, None, 0, True, frame
            continue
        yield index, clock, duration, False, frame
        clock += duration


def reduced(frame: Image.Image, side: int = FRAME_SIDE) -> Image.Image:
    if max(frame.size) <= side:
        return frame
    frame = frame.copy()
    frame.thumbnail((side, side), Image.Resampling.BILINEAR)
    return frame


def judged(frame: Image.Image, side: int = FRAME_SIDE) -> Image.Image:
    """A composited RGBA frame as the models get it: at most `side` a side,
    and RGB when no pixel is transparent (composited over any background it
    is these same pixels, so every model sees what it saw in RGBA)."""
    frame = reduced(frame, side)
    return frame.convert("RGB") if opaque_rgba(frame) else frame


def _signature(frame: Image.Image) -> np.ndarray:
    """32x32 luminance over white, as float32: what a scene change is measured on."""
    small = frame.resize((_SIGNATURE_SIDE, _SIGNATURE_SIDE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    white = Image.new("RGBA", small.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, small).convert("L"), dtype=np.float32)


def evenly_spaced(count: int, k: int) -> list[int]:
    """k frame indices spread over 0..count-1, the first and last included."""
    if k >= count:
        return list(range(count))
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, max(k, 1))})


def sample_frames(data: bytes, *, max_frames: int, side: int = FRAME_SIDE) -> list[Frame]:
    """The frames of an animation to judge, in order: all of them when there
    are at most `max_frames`; otherwise about half evenly spaced and the rest
    the largest scene changes (at least SCENE_CHANGE_MIN). An APNG default
    image is always judged: viewers without APNG support show it.

    The caller bounds the work (frames x pixels) before the bytes get here."""
    image = Image.open(io.BytesIO(data))
    default = has_default_image(image)
    offset = 1 if default else 0  # the animation's frames start after a default image
    animated = frame_count(image) - offset
    keep_all = animated <= max_frames
    spaced = {offset + i for i in evenly_spaced(animated, max_frames if keep_all else (max_frames + 1) // 2)}
    scene_slots = max_frames - len(spaced)
    if default:
        spaced.add(0)

    chosen: dict[int, Frame] = {}
    candidates: list[tuple[float, int, Frame]] = []  # min-heap of the largest scene changes
    previous = None
    for index, timestamp, duration, is_default, full in iter_frames(image):
        change = 0.0
        if not is_default:
            signature = _signature(full)
            if previous is not None:
                change = float(np.abs(signature - previous).mean())
            previous = signature
        if index in spaced:
            chosen[index] = Frame(index, timestamp, duration, judged(full, side), is_default, change)
        elif (
            scene_slots and change >= SCENE_CHANGE_MIN and (len(candidates) < scene_slots or change > candidates[0][0])
        ):
            entry = (change, index, Frame(index, timestamp, duration, judged(full, side), False, change))
            if len(candidates) < scene_slots:
                heapq.heappush(candidates, entry)
            else:
                heapq.heapreplace(candidates, entry)
    for _, index, frame in candidates:
        chosen[index] = frame
    return [chosen[i] for i in sorted(chosen)]


def thumbnail_jpeg(frame: Image.Image, side: int = THUMBNAIL_SIDE) -> bytes:
    """A small JPEG of a frame over white, as a page shows it."""
    buffer = io.BytesIO()
    to_rgb(reduced(frame, side)).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()

"""Real photos with no garment in them, from packages: the negatives of the
open-set gate's calibration and of bench/real_photos.py.

Sources, each used when installed: scikit-image's sample images, scikit-learn's
two sample photos, and the Debian wallpaper packages
(plasma-workspace-wallpapers, ukui-wallpapers). Large photos also give crops
(a centre square and two halves), so that a close-up of part of a scene counts
too. Plain Python: no Django, no TensorFlow.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

WALLPAPER_DIRS = (Path("/usr/share/wallpapers"), Path("/usr/share/backgrounds"))
# Every sample image scikit-image ships (none needs a download); lfw_subset is
# 25-px faces, too small to stand for an upload.
SKIMAGE_PHOTOS = (
    "astronaut",
    "binary_blobs",
    "brick",
    "camera",
    "cat",
    "cell",
    "checkerboard",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "colorwheel",
    "grass",
    "gravel",
    "horse",
    "hubble_deep_field",
    "immunohistochemistry",
    "logo",
    "microaneurysms",
    "moon",
    "page",
    "retina",
    "rocket",
    "shepp_logan_phantom",
    "text",
)
# Largest side a source photo is scaled to before crops are cut: uploads are
# rarely bigger, and a 5120-px PNG would take seconds per crop.
MAX_SIDE = 1024


@dataclass(frozen=True)
class RealPhoto:
    name: str  # source:item[:crop]
    source: str  # skimage, sklearn, wallpapers
    image: Image.Image  # RGB or L

    def jpeg(self, quality: int = 90) -> bytes:
        buffer = io.BytesIO()
        self.image.convert("RGB").save(buffer, "JPEG", quality=quality)
        return buffer.getvalue()


def _as_image(array: np.ndarray) -> Image.Image:
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    elif array.dtype != np.uint8:
        array = np.clip(array / max(float(array.max()), 1e-9) * 255.0, 0, 255).astype(np.uint8)
    if array.ndim == 3 and array.shape[2] == 4:
        return Image.fromarray(array, "RGBA").convert("RGB")
    return Image.fromarray(array)


def _bounded(image: Image.Image) -> Image.Image:
    if max(image.size) > MAX_SIDE:
        image = image.copy()
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.BILINEAR)
    return image


def _crops(image: Image.Image) -> list[tuple[str, Image.Image]]:
    width, height = image.size
    side = min(width, height) // 2
    if side < 128:
        return []
    cx, cy = width // 2, height // 2
    centre = image.crop((cx - side // 2, cy - side // 2, cx + side // 2, cy + side // 2))
    if width >= height:
        halves = [("left", image.crop((0, 0, cx, height))), ("right", image.crop((cx, 0, width, height)))]
    else:
        halves = [("top", image.crop((0, 0, width, cy))), ("bottom", image.crop((0, cy, width, height)))]
    return [("centre", centre), *halves]


def _skimage() -> Iterator[tuple[str, Callable[[], Image.Image]]]:
    try:
        from skimage import data
    except ImportError:
        return
    for name in SKIMAGE_PHOTOS:
        yield name, lambda name=name: _as_image(getattr(data, name)())
    yield "stereo_motorcycle_left", lambda: _as_image(data.stereo_motorcycle()[0])
    yield "stereo_motorcycle_right", lambda: _as_image(data.stereo_motorcycle()[1])


def _sklearn() -> Iterator[tuple[str, Callable[[], Image.Image]]]:
    try:
        from sklearn.datasets import load_sample_images
    except ImportError:
        return
    sample = load_sample_images()
    for filename, array in zip(sample.filenames, sample.images, strict=True):
        yield Path(filename).stem, lambda array=array: _as_image(array)


def _wallpaper_files() -> list[Path]:
    """One file per wallpaper (its smallest rendition), never the screenshots."""
    chosen: dict[str, Path] = {}
    for root in WALLPAPER_DIRS:
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() not in (".jpg", ".jpeg", ".png") or path.stem == "screenshot":
                continue
            key = path.parts[len(root.parts)] if path.parent != root else path.stem
            key = f"{root.name}/{key}"
            if key not in chosen or path.stat().st_size < chosen[key].stat().st_size:
                chosen[key] = path
    return [chosen[k] for k in sorted(chosen)]


def _open_wallpaper(path: Path) -> Image.Image:
    image = Image.open(path)
    image.draft("RGB", (MAX_SIDE, MAX_SIDE))
    return image


def _wallpapers() -> Iterator[tuple[str, Callable[[], Image.Image]]]:
    for path in _wallpaper_files():
        folder = path.parent.name if path.parent.name != "images" else path.parents[2].name
        yield f"{folder}/{path.stem}", lambda path=path: _open_wallpaper(path)


def split_side(item: str) -> str:
    """'calibration' or 'evaluation', fixed by the source photo's name (crops
    follow their photo): the gate is calibrated on one half, measured on the other."""
    return "calibration" if hashlib.sha256(item.encode()).digest()[0] % 2 == 0 else "evaluation"


def real_photos(*, crops: bool = True, side: str | None = None, limit: int | None = None) -> list[RealPhoto]:
    """The real photos the installed packages offer, with crops of the larger
    ones; only one side of the split when `side` is given; at most `limit` source photos."""
    photos: list[RealPhoto] = []
    sources = 0
    for source, items in (("skimage", _skimage()), ("sklearn", _sklearn()), ("wallpapers", _wallpapers())):
        for name, load in items:
            item = f"{source}:{name}"
            if side is not None and split_side(item) != side:
                continue
            if limit is not None and sources >= limit:
                return photos
            sources += 1
            image = load()
            image = _bounded(image.convert("RGB") if image.mode not in ("L", "RGB") else image)
            photos.append(RealPhoto(item, source, image))
            if crops:
                photos.extend(RealPhoto(f"{item}:{crop}", source, part) for crop, part in _crops(image))
    return photos

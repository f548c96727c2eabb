"""Fashion-MNIST from its idx files (gzip), as Debian's dataset-fashion-mnist ships them.

Plain Python and numpy: no Django, no TensorFlow.
"""

from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
ENV_VAR = "FASHION_MNIST_DIR"

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

# idx type codes -> numpy dtypes (big-endian where it matters).
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DatasetNotFound(FileNotFoundError):
    """The Fashion-MNIST files are not where we looked."""


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (n, 28, 28) uint8, white product on black
    labels: np.ndarray  # (n,) int64

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def head(self, n: int) -> Split:
        return Split(self.images[:n], self.labels[:n])


def dataset_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The folder to read: an explicit one, else $FASHION_MNIST_DIR, else Debian's."""
    chosen = Path(explicit or os.environ.get(ENV_VAR) or DEBIAN_DIR)
    missing = [name for pair in _FILES.values() for name in pair if not (chosen / name).exists()]
    if missing:
        raise DatasetNotFound(
            f"Fashion-MNIST not found in {chosen} (missing {', '.join(missing)}). "
            f"Install it with `apt-get install dataset-fashion-mnist`, or set {ENV_VAR} "
            "to a folder holding the four idx .gz files."
        )
    return chosen


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one idx file (gzip or plain) into an array of its stored shape."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an idx file (bad magic)")
    type_code, ndim = data[2], data[3]
    if type_code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown idx type code 0x{type_code:02x}")
    header_end = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", data[4:header_end])
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header_end != expected:
        raise ValueError(f"{path}: expected {expected} data bytes, found {len(data) - header_end}")
    return np.frombuffer(data, dtype=dtype, offset=header_end).reshape(shape).astype(dtype.newbyteorder("="))


def load_split(split: str, directory: str | os.PathLike | None = None) -> Split:
    """Load the `train` (60,000) or `test` (10,000) split."""
    if split not in _FILES:
        raise ValueError(f"unknown split {split!r}; choose from {sorted(_FILES)}")
    folder = dataset_dir(directory)
    images_name, labels_name = _FILES[split]
    images = read_idx(folder / images_name).astype(np.uint8)
    labels = read_idx(folder / labels_name).astype(np.int64)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{split}: {images.shape[0]} images but {labels.shape[0]} labels")
    return Split(images=images, labels=labels)


def fashion_photo(pixels: np.ndarray, side: int | None = None) -> Image.Image:
    """One Fashion-MNIST image as the RGB photo an upload of it would be: as it
    is (28 px), or rendered at `side` px (bicubic), as a shop's 256-px shot."""
    image = Image.fromarray(np.asarray(pixels, dtype=np.uint8)).convert("RGB")
    return image if side is None else image.resize((side, side), Image.Resampling.BICUBIC)

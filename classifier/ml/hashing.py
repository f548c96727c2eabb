"""PDQ perceptual hashes and Hamming distances between them. Searching banks
of them is classifier.ml.hash_index."""

from __future__ import annotations

import numpy as np
from PIL import Image

HASH_BYTES = 32  # 256 bits


def pdq_input(image: Image.Image) -> np.ndarray:
    """The RGB array PDQ hashes: at most 512 px a side."""
    rgb = image.convert("RGB")
    if max(rgb.size) > 512:
        rgb = rgb.copy()
        rgb.thumbnail((512, 512), Image.Resampling.BILINEAR)
    return np.asarray(rgb)


def pdq_hash(image: Image.Image) -> tuple[bytes, int]:
    """(256-bit PDQ hash as 32 bytes, quality 0..100) of a decoded image.

    PDQ downsamples internally; hashing a copy already reduced to at most
    512 px a side gives the same hash far faster on large photos."""
    import pdqhash

    bits, quality = pdqhash.compute(pdq_input(image))
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes(), int(quality)


def to_words(hashes: list[bytes] | np.ndarray) -> np.ndarray:
    """32-byte hashes -> (n, 4) uint64, the layout the search works on."""
    if isinstance(hashes, np.ndarray):
        return np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, HASH_BYTES).view(np.uint64)
    if not hashes:
        return np.zeros((0, 4), dtype=np.uint64)
    return np.frombuffer(b"".join(hashes), dtype=np.uint8).reshape(-1, HASH_BYTES).view(np.uint64)


def hamming_distances(query: bytes, bank: np.ndarray) -> np.ndarray:
    """Distances from one hash to every row of a (n, 4) uint64 bank."""
    q = np.frombuffer(query, dtype=np.uint64)
    return np.bitwise_count(bank ^ q).sum(axis=1, dtype=np.int32)

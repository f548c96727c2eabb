"""PDQ perceptual hashes and vectorised Hamming search over a bank of them."""

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


def nearest(query: bytes, bank: np.ndarray) -> tuple[int, int] | None:
    """(row, distance) of the closest hash in the bank, or None for an empty bank."""
    if len(bank) == 0:
        return None
    distances = hamming_distances(query, bank)
    row = int(np.argmin(distances))
    return row, int(distances[row])


class HashIndex:
    """Exact nearest-hash search within a radius, fast on large banks.

    Multi-index hashing: split each 256-bit hash into 32 bytes. Two hashes
    within distance d < 32 agree exactly on at least 32 - d of the bytes (a
    differing bit spoils at most one byte), so on at least one. Only rows that
    share a byte value at the same position with the query are candidates, and
    each candidate's true distance is then computed.
    """

    def __init__(self, hashes: np.ndarray) -> None:
        self.bytes = np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, HASH_BYTES)
        self.words = self.bytes.view(np.uint64).reshape(-1, 4)
        # For each byte position: rows sorted by that byte, and where each value starts.
        self._order = np.argsort(self.bytes, axis=0, kind="stable").T.astype(np.int32)  # (32, n)
        counts = np.stack([np.bincount(self.bytes[:, j], minlength=256) for j in range(HASH_BYTES)])
        self._starts = np.concatenate([np.zeros((HASH_BYTES, 1), np.int64), np.cumsum(counts, axis=1)], axis=1)

    def __len__(self) -> int:
        return len(self.words)

    def nearest_within(self, query: bytes, max_distance: int) -> tuple[int, int] | None:
        """(row, distance) of the closest hash at most max_distance away, or None."""
        if len(self.words) == 0:
            return None
        if max_distance >= HASH_BYTES:
            found = nearest(query, self.words)
            return found if found and found[1] <= max_distance else None
        values = np.frombuffer(query, dtype=np.uint8).tolist()
        # A row may appear under several positions; repeats do not change the minimum.
        candidates = np.concatenate(
            [self._order[j, self._starts[j, v] : self._starts[j, v + 1]] for j, v in enumerate(values)]
        )
        if len(candidates) == 0:
            return None
        distances = hamming_distances(query, self.words[candidates])
        best = int(np.argmin(distances))
        if distances[best] > max_distance:
            return None
        return int(candidates[best]), int(distances[best])

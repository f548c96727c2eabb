"""Exact Hamming range search over millions of 256-bit PDQ hashes.

Multi-index hashing (Norouzi, Punjani & Fleet, "Fast search in Hamming space
with multi-index hashing", CVPR 2012). Each hash is cut into `m` chunks of
about 256/m bits. If two hashes are at most r bits apart, at least one chunk
differs in at most r // m bits (pigeonhole: were every chunk at least
r // m + 1 apart, the total would exceed r). So the hashes within r of a query
are among those whose chunk j, for some j, equals the query's chunk j with at
most r // m bits flipped. For each chunk the index keeps the rows sorted by
that chunk's value and where each value starts (a counting sort); a search
looks up every probe value, gathers those rows, and keeps the ones whose full
distance is within r. Nothing is approximate: a row is returned if and only if
it is within the radius.

Everything is a plain numpy array saved as .npy files, so worker processes
open one build with `np.load(mmap_mode="r")` and share its pages through the
operating system's page cache instead of each holding its own copy.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HASH_BITS = 256
HASH_BYTES = 32
# Above this many flipped bits per chunk the probes outnumber the rows worth
# probing; such radii are answered by brute force instead.
MAX_FLIPS = 2


def chunk_widths(chunks: int) -> list[int]:
    """Split 256 bits into `chunks` nearly equal widths (wider ones first)."""
    base, extra = divmod(HASH_BITS, chunks)
    return [base + 1] * extra + [base] * (chunks - extra)


def default_chunks(size: int) -> int:
    """Chunk count for a bank of `size` hashes. Twelve chunks of 21-22 bits
    (up to two flips each at radius 31: 2,872 probes, a bucket per probe
    nearly empty) beat sixteen of 16 bits (one flip: 272 probes, but
    size / 65,536 rows in each) from a few hundred thousand hashes on; below
    that the 134 MB of bucket offsets of 21-22-bit chunks are not worth it."""
    return 16 if size < 200_000 else 12


def as_words(hashes: np.ndarray) -> np.ndarray:
    """(n, 32) uint8 -> (n, 4) little-endian uint64 words."""
    return np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, HASH_BYTES).view("<u8")


def chunk_value(words: np.ndarray, start: int, width: int) -> np.ndarray:
    """Bits [start, start + width) of each (n, 4)-word hash read as a 256-bit integer."""
    word, shift = divmod(start, 64)
    value = words[:, word] >> np.uint64(shift)
    if shift + width > 64:
        value = value | (words[:, word + 1] << np.uint64(64 - shift))
    return (value & np.uint64((1 << width) - 1)).astype(np.uint32)


def chunk_values(words: np.ndarray, widths: list[int]) -> np.ndarray:
    """(n, 4) words -> (n, m) uint32 chunk values."""
    out = np.empty((len(words), len(widths)), dtype=np.uint32)
    start = 0
    for j, width in enumerate(widths):
        out[:, j] = chunk_value(words, start, width)
        start += width
    return out


def _flip_masks(width: int, flips: int) -> np.ndarray:
    masks = [0]
    for k in range(1, flips + 1):
        masks += [sum(1 << b for b in bits) for bits in itertools.combinations(range(width), k)]
    return np.array(masks, dtype=np.uint32)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise distances between two (n, 4) word arrays (or one row broadcast)."""
    counts = np.bitwise_count(a ^ b).astype(np.uint16)
    return counts[:, 0] + counts[:, 1] + counts[:, 2] + counts[:, 3]


@dataclass(frozen=True)
class Hits:
    """Every (query, row) pair within the radius: parallel arrays, sorted by
    query then distance. `rows` index the index's arrays, not the ids."""

    queries: np.ndarray
    rows: np.ndarray
    distances: np.ndarray

    @classmethod
    def empty(cls) -> Hits:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint16))

    @classmethod
    def sorted(cls, queries: np.ndarray, rows: np.ndarray, distances: np.ndarray, size: int) -> Hits:
        # A row found through two chunks is one hit.
        key, first = np.unique(queries.astype(np.int64) * max(size, 1) + rows, return_index=True)
        queries, rows, distances = queries[first], rows[first], distances[first]
        order = np.lexsort((rows, distances, queries))
        return cls(queries[order].astype(np.int64), rows[order].astype(np.int64), distances[order].astype(np.uint16))

    def __len__(self) -> int:
        return len(self.rows)


def brute_force(queries: np.ndarray, hashes: np.ndarray, radius: int, block: int = 1 << 18) -> Hits:
    """The reference: compare every query with every row."""
    q = as_words(queries)
    bank = as_words(hashes)
    found_q, found_r, found_d = [], [], []
    for lo in range(0, len(bank), block):
        part = bank[lo : lo + block]
        for i, row in enumerate(q):
            distances = hamming(part, row)
            hit = np.flatnonzero(distances <= radius)
            found_q.append(np.full(len(hit), i, np.int64))
            found_r.append(hit + lo)
            found_d.append(distances[hit])
    if not found_q:
        return Hits.empty()
    return Hits.sorted(np.concatenate(found_q), np.concatenate(found_r), np.concatenate(found_d), len(bank))


class MultiIndex:
    """An exact multi-index over (n, 32) uint8 hashes, with int64 ids."""

    def __init__(
        self,
        hashes: np.ndarray,
        ids: np.ndarray,
        widths: list[int],
        order: np.ndarray,
        starts: np.ndarray,
        extra: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.hashes = hashes
        self.words = as_words(hashes) if len(hashes) else np.zeros((0, 4), "<u8")
        self.ids = ids
        self.widths = widths
        self.order = order  # (m, n) int32: rows sorted by each chunk
        self.starts = starts  # concatenated per chunk: 2**width + 1 offsets each
        self.extra = extra or {}
        self._starts_base = np.concatenate([[0], np.cumsum([(1 << w) + 1 for w in widths])[:-1]]).astype(np.int64)
        self._probes: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._occupied_bits: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(
        cls,
        hashes: np.ndarray,
        ids: np.ndarray | None = None,
        *,
        chunks: int | None = None,
        extra: dict[str, np.ndarray] | None = None,
    ) -> MultiIndex:
        hashes = np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, HASH_BYTES)
        n = len(hashes)
        if n >= 2**31:
            raise ValueError("at most 2**31 - 1 hashes per index")
        ids = np.arange(n, dtype=np.int64) if ids is None else np.ascontiguousarray(ids, dtype=np.int64)
        widths = chunk_widths(chunks or default_chunks(n))
        words = as_words(hashes) if n else np.zeros((0, 4), "<u8")
        order = np.empty((len(widths), n), dtype=np.int32)
        starts = []
        first_bit = 0
        for j, width in enumerate(widths):
            # One chunk at a time keeps the build's extra memory to a few arrays of n.
            values = chunk_value(words, first_bit, width)
            counts = np.bincount(values, minlength=1 << width)
            offsets = np.zeros((1 << width) + 1, dtype=np.int32)
            np.cumsum(counts, out=offsets[1:])
            order[j] = np.argsort(values, kind="stable")
            starts.append(offsets)
            first_bit += width
        return cls(hashes, ids, widths, order, np.concatenate(starts) if starts else np.zeros(0, np.int32), extra)

    # --- persistence: a folder of .npy files that processes memory-map ---

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {
            "hashes": self.hashes,
            "ids": self.ids,
            "order": self.order,
            "starts": self.starts,
            **{f"extra_{k}": v for k, v in self.extra.items()},
        }
        for name, array in arrays.items():
            np.save(folder / f"{name}.npy", np.ascontiguousarray(array))
        (folder / "meta.json").write_text(
            json.dumps({"widths": self.widths, "size": len(self), "extra": sorted(self.extra)})
        )
        for path in folder.iterdir():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())

    @classmethod
    def load(cls, folder: Path, *, mmap: bool = True) -> MultiIndex:
        meta = json.loads((folder / "meta.json").read_text())
        mode = "r" if mmap else None

        def read(name: str) -> np.ndarray:
            return np.load(folder / f"{name}.npy", mmap_mode=mode)

        return cls(
            read("hashes"),
            read("ids"),
            meta["widths"],
            read("order"),
            read("starts"),
            {k: read(f"extra_{k}") for k in meta["extra"]},
        )

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.hashes, self.ids, self.order, self.starts, *self.extra.values()))

    # --- search ---

    def _query_chunks(self, queries: np.ndarray, q_words: np.ndarray) -> np.ndarray:
        if len(queries) > 4:
            return chunk_values(q_words, self.widths)
        # A lone lookup: a dozen shifts of a Python int beat six numpy calls a chunk.
        out = np.empty((len(queries), len(self.widths)), dtype=np.uint32)
        for i, query in enumerate(queries):
            value = int.from_bytes(query.tobytes(), "little")
            for j, width in enumerate(self.widths):
                out[i, j] = value & ((1 << width) - 1)
                value >>= width
        return out

    def _occupied(self) -> np.ndarray:
        """Bit s (little-endian) set when bucket slot s holds rows."""
        if self._occupied_bits is None:
            self._occupied_bits = np.packbits(np.diff(self.starts) > 0, bitorder="little")
        return self._occupied_bits

    def _probe_table(self, flips: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if flips not in self._probes:
            masks = [_flip_masks(w, flips) for w in self.widths]
            chunk = np.concatenate([np.full(len(m), j, np.int64) for j, m in enumerate(masks)])
            self._probes[flips] = (np.concatenate(masks), chunk, self._starts_base[chunk])
        return self._probes[flips]

    def search(self, queries: np.ndarray, radius: int) -> Hits:
        """Every row within `radius` of each query, exactly."""
        queries = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, HASH_BYTES)
        n = len(self)
        if n == 0 or len(queries) == 0 or radius < 0:
            return Hits.empty()
        flips = radius // len(self.widths)
        if flips > MAX_FLIPS:
            return brute_force(queries, self.hashes, radius)
        masks, chunk, base = self._probe_table(flips)
        q_words = as_words(queries)
        keys = self._query_chunks(queries, q_words)[:, chunk] ^ masks  # (B, P)
        slots = (base + keys).ravel()
        # Most probed buckets are empty below ~2 rows per bucket: a bitmap of
        # the non-empty ones (a few MB, it stays in cache) spares a miss into
        # the large offsets array for each of them.
        occupied = self._occupied()
        probe = np.flatnonzero((occupied[slots >> 3] >> (slots & 7).astype(np.uint8)) & 1)
        slots = slots[probe]
        first = self.starts[slots]
        lengths = self.starts[slots + 1] - first
        # Positions in the flattened (m * n) order array.
        first = first + (chunk * n)[probe % len(masks)]
        total = int(lengths.sum())
        if total == 0:
            return Hits.empty()
        runs = np.cumsum(lengths) - lengths
        positions = np.repeat(first - runs, lengths) + np.arange(total)
        rows = self.order.reshape(-1)[positions]
        query_of = np.repeat(probe // len(masks), lengths)
        distances = hamming(self.words.take(rows, axis=0), q_words.take(query_of, axis=0))
        hit = distances <= radius
        if not hit.any():
            return Hits.empty()
        return Hits.sorted(query_of[hit], rows[hit].astype(np.int64), distances[hit], n)


def flat_search(queries: np.ndarray, hashes: np.ndarray, radius: int) -> Hits:
    """Exact brute force with faiss's IndexBinaryFlat (SIMD popcount, blocked
    over the queries): the right tool when one side is small, as when a
    handful of new bank entries meet a million past uploads."""
    import faiss

    hashes = np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, HASH_BYTES)
    queries = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, HASH_BYTES)
    if len(hashes) == 0 or len(queries) == 0 or radius < 0:
        return Hits.empty()
    index = faiss.IndexBinaryFlat(HASH_BITS)
    index.add(hashes)
    # faiss keeps distances strictly below the radius it is given.
    limits, distances, rows = index.range_search(queries, radius + 1)
    query_of = np.repeat(np.arange(len(queries)), np.diff(limits.astype(np.int64)))
    return Hits.sorted(query_of, rows.astype(np.int64), distances, len(hashes))


def search_pairs(queries: np.ndarray, hashes: np.ndarray, radius: int) -> Hits:
    """Every (query, row) pair within `radius`, each side an array of hashes:
    brute force while one side is small, else a multi-index over the larger
    side searched with the smaller."""
    queries = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, HASH_BYTES)
    hashes = np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, HASH_BYTES)
    if min(len(queries), len(hashes)) <= 2_000:
        return flat_search(queries, hashes, radius)
    if len(hashes) >= len(queries):
        return MultiIndex.build(hashes).search(queries, radius)
    swapped = MultiIndex.build(queries).search(hashes, radius)
    return Hits.sorted(swapped.rows, swapped.queries, swapped.distances, len(hashes))

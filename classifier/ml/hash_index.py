"""Exact Hamming range search over millions of 256-bit PDQ hashes.

Multi-index hashing (Norouzi, Punjani & Fleet, "Fast search in Hamming space
with multi-index hashing", CVPR 2012). Each hash is cut into `m` chunks of
about 256/m bits. If two hashes are at most r = a * m + b bits apart
(0 <= b < m), then among any b + 1 chosen chunks one differs in at most a
bits, or one of the others in at most a - 1 (pigeonhole: otherwise the total
would be at least r + 1); `chunk_radii` picks the cheapest b + 1. So the
hashes within r of a query are among those whose chunk j, for some j, equals
the query's chunk j with at most that chunk's radius of bits flipped. For
each chunk the index keeps the rows sorted by that chunk's value and where
each value starts (a counting sort); a search looks up every probe value,
gathers those rows, and keeps the ones whose full distance is within r,
each once. Nothing is approximate: a row is returned if and only if it is
within the radius. The probe-and-verify loop is compiled (hash_kernels.py).

Everything is a plain numpy array saved as .npy files, so worker processes
open one build with `np.load(mmap_mode="r")` and share its pages through the
operating system's page cache instead of each holding its own copy.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from classifier.ml import hash_kernels as kernels

HASH_BITS = 256
HASH_BYTES = 32
# Above this many flipped bits per chunk the probes outnumber the rows worth
# probing; such radii are answered by brute force instead.
MAX_FLIPS = 2
# Below this many rows a scan of every row beats probing buckets.
FLAT_ROWS = 4096
# The chunk counts considered, and what a byte of bucket offsets per hash
# is worth in memory accesses per lookup when choosing among them.
CHUNK_CHOICES = range(11, 17)
OFFSET_BYTE_COST = 10.0


def chunk_widths(chunks: int) -> list[int]:
    """Split 256 bits into `chunks` nearly equal widths (wider ones first)."""
    base, extra = divmod(HASH_BITS, chunks)
    return [base + 1] * extra + [base] * (chunks - extra)


def _probes(width: int, flips: int) -> int:
    return sum(math.comb(width, k) for k in range(flips + 1)) if flips >= 0 else 0


def _probe_cost(width: int, flips: int, size: int) -> float:
    """Expected memory accesses of probing one chunk: a bucket offset per
    probe and a candidate row per row in the probed buckets."""
    probes = _probes(width, flips)
    return probes * (1 + size / (1 << width))


def chunk_radii(widths: list[int], radius: int, size: int) -> list[int] | None:
    """How many bits each chunk is probed with so that every row within
    `radius` is found: the generalized pigeonhole of Norouzi et al. With
    radius = a * m + b (0 <= b < m), if b + 1 chunks are probed within a bits
    and the others within a - 1, a row missed by all of them would be at
    least (b + 1)(a + 1) + (m - b - 1) a = radius + 1 away. The b + 1 chunks
    given a bits are those where it costs least. None when a > MAX_FLIPS."""
    m = len(widths)
    a, b = divmod(radius, m)
    if a > MAX_FLIPS:
        return None
    extra = sorted(range(m), key=lambda j: (_probe_cost(widths[j], a, size) - _probe_cost(widths[j], a - 1, size), j))
    wide = set(extra[: b + 1])
    return [a if j in wide else a - 1 for j in range(m)]


def lookup_cost(chunks: int, size: int, radius: int = 31) -> float:
    """Expected memory accesses of one lookup in a `size`-row index."""
    widths = chunk_widths(chunks)
    radii = chunk_radii(widths, radius, size)
    if radii is None:
        return float(size)
    return sum(_probe_cost(w, r, size) for w, r in zip(widths, radii, strict=True))


def default_chunks(size: int) -> int:
    """Chunk count for a bank of `size` hashes: fewest expected memory
    accesses per lookup at radius 31, counting each byte per hash of bucket
    offsets (4 * 2**width per chunk) as OFFSET_BYTE_COST accesses. From
    the cost model: 16 chunks of 16 bits up to a few hundred thousand
    hashes, 13 at a million (1,373 probes, 46 B of offsets per hash), 11 of
    23-24 bits at ten million (~2,900 probes, ~2,900 candidates)."""
    size = max(size, 1)

    def score(chunks: int) -> float:
        offsets = sum(4 << w for w in chunk_widths(chunks)) / size
        return lookup_cost(chunks, size) + OFFSET_BYTE_COST * offsets

    return min(CHUNK_CHOICES, key=score)


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
        # Each (query, row) pair once, should a caller give one twice.
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


class _Chunks:
    """Where each chunk's bits lie, as the compiled loops take them."""

    def __init__(self, widths: list[int]) -> None:
        starts = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int64)
        self.word = starts // 64
        shift = starts % 64
        self.shift = shift.astype(np.uint64)
        self.spill = np.where(shift + widths > 64, 64 - shift, 0).astype(np.uint64)
        self.mask = np.array([(1 << w) - 1 for w in widths], dtype=np.uint64)
        self.width = np.array(widths, dtype=np.int64)
        # Each chunk's bucket offsets in the concatenated `starts`: 2**width + 1 each.
        self.base = np.concatenate([[0], np.cumsum([(1 << w) + 1 for w in widths])[:-1]]).astype(np.int64)


def _collect(search, *args) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run a compiled search with room for its pairs: a guess first (a few
    per query), again with the exact room when there were more."""
    capacity = 64 + 4 * len(args[0])
    while True:
        out_q = np.empty(capacity, np.int64)
        out_r = np.empty(capacity, np.int64)
        out_d = np.empty(capacity, np.uint16)
        found = search(*args, out_q, out_r, out_d)
        if found <= capacity:
            return out_q[:found], out_r[:found], out_d[:found]
        capacity = found


def _hits(queries: np.ndarray, rows: np.ndarray, distances: np.ndarray) -> Hits:
    """Pairs found once each, ordered by query, distance, row."""
    if len(rows) > 1:
        order = np.lexsort((rows, distances, queries))
        queries, rows, distances = queries[order], rows[order], distances[order]
    return Hits(queries, rows, distances)


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
        # Plain ndarray views of the (possibly memory-mapped) arrays for the compiled loops.
        self.words = np.asarray(as_words(hashes)) if len(hashes) else np.zeros((0, 4), "<u8")
        self.ids = ids
        self.widths = widths
        self.order = order  # (m, n) int32: rows sorted by each chunk
        self.starts = starts  # concatenated per chunk: 2**width + 1 offsets each
        self.extra = extra or {}
        self._chunks = _Chunks(widths)
        self._order = np.asarray(order)
        self._starts = np.asarray(starts)
        self._radii: dict[int, np.ndarray | None] = {}

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
        layout = _Chunks(widths)
        words = as_words(hashes) if n else np.zeros((0, 4), "<u8")
        order = np.empty((len(widths), n), dtype=np.int32)
        starts = np.empty(int(layout.base[-1]) + (1 << widths[-1]) + 1, dtype=np.int32)
        values = np.empty(n, dtype=np.uint32)
        for j, width in enumerate(widths):
            # One chunk at a time: the build's extra memory is one array of n values.
            kernels.chunk_column(words, layout.word[j], layout.shift[j], layout.spill[j], layout.mask[j], values)
            base = int(layout.base[j])
            kernels.counting_sort(values, 1 << width, starts[base : base + (1 << width) + 1], order[j])
        return cls(hashes, ids, widths, order, starts, extra)

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

    def chunk_radii(self, radius: int) -> np.ndarray | None:
        if radius not in self._radii:
            radii = chunk_radii(self.widths, radius, len(self))
            self._radii[radius] = None if radii is None else np.array(radii, dtype=np.int64)
        return self._radii[radius]

    def search(self, queries: np.ndarray, radius: int) -> Hits:
        """Every row within `radius` of each query, exactly."""
        queries = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, HASH_BYTES)
        if len(self) == 0 or len(queries) == 0 or radius < 0:
            return Hits.empty()
        q_words = queries.view("<u8")
        radii = self.chunk_radii(radius)
        if radii is None or len(self) <= FLAT_ROWS:
            return _hits(*_collect(kernels.flat_search, q_words, self.words, radius))
        c = self._chunks
        found = _collect(
            kernels.multi_index_search,
            q_words,
            self.words,
            self._order,
            self._starts,
            c.base,
            c.word,
            c.shift,
            c.spill,
            c.mask,
            c.width,
            radii,
            radius,
        )
        return _hits(*found)


def warm() -> None:
    """Compile (or load from the cache) every loop a search takes."""
    rng = np.random.default_rng(0)
    bank = rng.integers(0, 256, (FLAT_ROWS + 1, HASH_BYTES), dtype=np.uint8)
    for index in (MultiIndex.build(bank[:10]), MultiIndex.build(bank)):
        index.search(bank[:2], 31)


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

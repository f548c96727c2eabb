"""The bank index is exact: the multi-index returns the same pairs as brute
force (numpy, and faiss's IndexBinaryFlat) on random hashes and on real PDQ
hashes of photos and their edits, at every radius, saved and memory-mapped."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bench.hash_bank import near_duplicate_edits, real_pdq_hashes
from classifier.ml.hash_index import (
    FLAT_ROWS,
    MultiIndex,
    as_words,
    brute_force,
    chunk_radii,
    chunk_values,
    chunk_widths,
    default_chunks,
    flat_search,
    search_pairs,
)
from tests.conftest import ROOT

PHOTOS = [
    "astronaut",
    "camera",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "coins",
    "page",
    "horse",
    "brick",
    "grass",
]


def same(a, b) -> bool:
    return (
        np.array_equal(a.queries, b.queries)
        and np.array_equal(a.rows, b.rows)
        and np.array_equal(a.distances, b.distances)
    )


def near(rng, row: np.ndarray, flips: int) -> np.ndarray:
    bits = np.unpackbits(row)
    bits[rng.choice(256, flips, replace=False)] ^= 1
    return np.packbits(bits)


@pytest.fixture(scope="module")
def real_pdq() -> np.ndarray:
    return real_pdq_hashes(PHOTOS)


def test_chunks_tile_the_256_bits():
    words = as_words(np.full((1, 32), 255, np.uint8))
    for chunks in (11, 12, 16):
        values = chunk_values(words, [256 // chunks + (1 if j < 256 % chunks else 0) for j in range(chunks)])
        assert sum(int(v).bit_count() for v in values[0]) == 256


@pytest.mark.parametrize("chunks", [11, 12, 13, 16])
def test_multi_index_equals_brute_force_on_random_hashes(chunks):
    rng = np.random.default_rng(chunks)
    bank = rng.integers(0, 256, (20_000, 32), dtype=np.uint8)
    # Near-duplicates at every distance 0..48 of banked rows, and unrelated hashes.
    queries = np.stack(
        [near(rng, bank[rng.integers(len(bank))], d) for d in range(49)]
        + list(rng.integers(0, 256, (30, 32), dtype=np.uint8))
    )
    index = MultiIndex.build(bank, chunks=chunks)
    for radius in (0, 7, 10, 15, 16, 24, 30, 31, 32, 35, 48):
        expected = brute_force(queries, bank, radius)
        assert same(index.search(queries, radius), expected), radius
        assert same(flat_search(queries, bank, radius), expected), radius
        assert len(expected) >= min(radius + 1, 49)
    # A lone lookup takes another path to its chunk values: same answers.
    expected = brute_force(queries, bank, 31)
    for i, query in enumerate(queries):
        alone = index.search(query[None], 31)
        mine = expected.queries == i
        assert np.array_equal(alone.rows, expected.rows[mine]) and np.array_equal(
            alone.distances, expected.distances[mine]
        )


def test_multi_index_equals_brute_force_on_real_pdq_hashes(real_pdq, tmp_path):
    rng = np.random.default_rng(0)
    bank = np.concatenate([real_pdq, rng.integers(0, 256, (5_000, 32), dtype=np.uint8)])
    ids = np.arange(len(bank), dtype=np.int64) * 7 + 3
    MultiIndex.build(bank, ids, chunks=12).save(tmp_path / "snap")
    index = MultiIndex.load(tmp_path / "snap")  # memory-mapped, as workers open it
    assert isinstance(index.hashes, np.memmap) and np.array_equal(index.ids, ids)
    for radius in (10, 31, 40):
        expected = brute_force(real_pdq, bank, radius)
        assert same(index.search(real_pdq, radius), expected)
        assert same(search_pairs(real_pdq, bank, radius), expected)
    # Real near-duplicates are in the data: at PDQ's usual radius each photo
    # finds itself and at least two of its edits (resized, brightened, ...).
    hits = index.search(real_pdq[:: len(near_duplicate_edits(Image.new("RGB", (8, 8))))], 31)
    per_photo = np.bincount(hits.queries, minlength=len(PHOTOS))
    assert (per_photo >= 3).all(), per_photo


def test_empty_and_tiny_indexes():
    empty = MultiIndex.build(np.zeros((0, 32), np.uint8))
    assert len(empty.search(np.zeros((1, 32), np.uint8), 31)) == 0
    one = MultiIndex.build(np.zeros((1, 32), np.uint8), np.array([42]))
    hits = one.search(np.zeros((2, 32), np.uint8), 0)
    assert hits.queries.tolist() == [0, 1] and one.ids[hits.rows].tolist() == [42, 42]


def test_search_pairs_is_exact_whichever_side_is_larger():
    rng = np.random.default_rng(5)
    small = rng.integers(0, 256, (2_500, 32), dtype=np.uint8)
    large = np.concatenate(
        [np.stack([near(rng, small[i], i % 32) for i in range(300)]), rng.integers(0, 256, (4_000, 32), dtype=np.uint8)]
    )
    assert same(search_pairs(large, small, 31), brute_force(large, small, 31))
    assert same(search_pairs(small, large, 31), brute_force(small, large, 31))
    assert len(brute_force(large, small, 31)) >= 300


def test_chunk_radii_leave_no_row_within_the_radius_unprobed():
    """A row missed by every chunk differs in at least radius_j + 1 bits of
    each probed chunk j (and 0 of an unprobed one): those must add up to
    more than the radius."""
    for chunks in range(11, 17):
        widths = chunk_widths(chunks)
        for size in (1_000, 1_000_000, 10_000_000):
            for radius in range(0, 3 * chunks):
                radii = chunk_radii(widths, radius, size)
                assert radii is not None and all(-1 <= r <= 2 for r in radii)
                assert sum(r + 1 for r in radii) == radius + 1
            assert chunk_radii(widths, 3 * chunks, size) is None  # three flips a chunk: brute force
    assert default_chunks(10_000) == 16 and default_chunks(10_000_000) < default_chunks(1_000_000) < 16


def test_duplicates_many_pairs_and_the_flat_path_are_exact():
    """A hash banked hundreds of times gives hundreds of pairs a query (more
    than the first guess of room: the search runs again with enough), each
    row once; a bank of at most FLAT_ROWS rows is scanned instead of probed."""
    rng = np.random.default_rng(9)
    common = rng.integers(0, 256, 32, dtype=np.uint8)
    bank = np.concatenate(
        [
            np.tile(common, (600, 1)),
            np.stack([near(rng, common, d % 40) for d in range(400)]),
            rng.integers(0, 256, (FLAT_ROWS * 2, 32), dtype=np.uint8),
        ]
    )
    queries = np.stack([near(rng, common, d) for d in (0, 3, 17, 31)] + [bank[-1], bank[-2]])
    for index in (MultiIndex.build(bank), MultiIndex.build(bank[-FLAT_ROWS:])):
        rows = bank if len(index) == len(bank) else bank[-FLAT_ROWS:]
        for radius in (0, 12, 31, 40, 100):
            expected = brute_force(queries, rows, radius)
            assert same(index.search(queries, radius), expected), (len(index), radius)
    assert len(brute_force(queries[:1], bank, 31)) > 600


def test_compiled_loops_are_cached_under_var(tmp_path):
    """Without NUMBA_CACHE_DIR, numba's cache goes to $VAR_DIR/numba, so
    install_models compiles once per install and each process then loads."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"} | {"VAR_DIR": str(tmp_path)}
    script = "import numba; from classifier.ml import hash_kernels; print(numba.config.CACHE_DIR)"
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.strip() == str(tmp_path / "numba") and (tmp_path / "numba").is_dir()

"""PDQ hash banks at 1 M and 10 M hashes: the exact multi-index that serves
the banks (classifier.ml.hash_index, its loops compiled by numba).

Measures build time, memory per hash, a single lookup, lookups per second in
one process and in two (two processes sharing one memory-mapped snapshot, as
a host's workers do), the delta built when entries are added, exactness
against brute force (faiss IndexBinaryFlat) on random hashes and on real PDQ
hashes of photos and their edits, and a retroactive search of 1,000,000 past
uploads against new entries.

Every timing is given twice: by the wall clock, and per second of CPU time
the process got (time.process_time). On a machine shared with other work the
wall clock counts the time a process waited for a core; CPU time does not,
so it is what a dedicated core would do (cache and memory traffic of the
other work still count against it).

    python -m bench.hash_bank [--sizes 1000000,10000000] [--seconds 5] [--faiss-multihash] [--no-write]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import table, write_section
from classifier.ml.hash_index import MultiIndex, flat_search, search_pairs, warm

RADIUS = 31
BATCH = 64
PHOTOS = ["astronaut", "camera", "chelsea", "coffee", "rocket", "hubble_deep_field", "coins", "page", "horse", "brick"]


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _near(rng, rows: np.ndarray) -> np.ndarray:
    """Each row with 0..RADIUS of its bits flipped."""
    bits = np.unpackbits(rows, axis=1)
    for i in range(len(bits)):
        bits[i, rng.choice(256, rng.integers(0, RADIUS + 1), replace=False)] ^= 1
    return np.packbits(bits, axis=1)


def _queries(rng, bank: np.ndarray, n: int) -> np.ndarray:
    """Half near-duplicates of banked hashes, half unrelated hashes."""
    near = _near(rng, bank[rng.integers(0, len(bank), n // 2)])
    return np.concatenate([near, rng.integers(0, 256, (n - n // 2, 32), dtype=np.uint8)])


def near_duplicate_edits(image):
    """A photo and seven edits of it that PDQ should still match: resized,
    cropped, brighter, lower contrast, blurred, turned, mirrored."""
    from PIL import Image, ImageEnhance, ImageFilter

    w, h = image.size
    return [
        image,
        image.resize((w // 2, h // 2)),
        image.crop((w // 20, h // 20, w - w // 20, h - h // 20)),
        ImageEnhance.Brightness(image).enhance(1.3),
        ImageEnhance.Contrast(image).enhance(0.7),
        image.filter(ImageFilter.GaussianBlur(2)),
        image.rotate(3),
        image.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    ]


def real_pdq_hashes(photos: list[str] = PHOTOS) -> np.ndarray:
    """Real PDQ hashes, (n, 32) uint8: scikit-image's sample photos named in
    `photos`, each followed by its near_duplicate_edits."""
    from PIL import Image
    from skimage import data

    from classifier.ml.hashing import pdq_hash

    hashes = []
    for name in photos:
        image = Image.fromarray(getattr(data, name)()).convert("RGB")
        hashes += [np.frombuffer(pdq_hash(edit)[0], np.uint8) for edit in near_duplicate_edits(image)]
    return np.stack(hashes)


def _lookups(folder: str, queries: np.ndarray, batch: int, seconds: float, out) -> None:
    """Lookups for `seconds` in batches: (lookups, wall seconds, CPU seconds)."""
    index = MultiIndex.load(Path(folder))  # memory-mapped, shared through the page cache
    # Touch the snapshot's pages once, as a long-running worker has.
    index.search(queries, RADIUS)
    done, i = 0, 0
    wall, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - wall < seconds:
        index.search(queries[i : i + batch], RADIUS)
        i = (i + batch) % (len(queries) - batch)
        done += batch
    out.put((done, time.perf_counter() - wall, time.process_time() - cpu))


def _throughput(folder: Path, queries: np.ndarray, batch: int, processes: int, seconds: float) -> tuple[float, float]:
    """(lookups per wall second, lookups per CPU second) of `processes`
    processes together."""
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    workers = [ctx.Process(target=_lookups, args=(str(folder), queries, batch, seconds, out)) for _ in range(processes)]
    for w in workers:
        w.start()
    results = [out.get() for _ in workers]
    for w in workers:
        w.join()
    return sum(d / wall for d, wall, _ in results), sum(d / max(cpu, 1e-9) for d, _, cpu in results)


def _single(index: MultiIndex, queries: np.ndarray) -> tuple[float, float]:
    """(wall ms, CPU ms) of one lookup alone."""
    wall, cpu = time.perf_counter(), time.process_time()
    for q in queries:
        index.search(q[None], RADIUS)
    return (time.perf_counter() - wall) / len(queries) * 1000, (time.process_time() - cpu) / len(queries) * 1000


def _same(a, b) -> bool:
    return (
        np.array_equal(a.queries, b.queries)
        and np.array_equal(a.rows, b.rows)
        and np.array_equal(a.distances, b.distances)
    )


def _faiss_rows(bank: np.ndarray, queries: np.ndarray, multihash: bool) -> list[list[object]]:
    """The faiss binary indexes considered, one thread, CPU time."""
    import faiss

    faiss.omp_set_num_threads(1)
    rows = []
    flat = faiss.IndexBinaryFlat(256)
    flat.add(bank)
    started = time.process_time()
    for q in queries[:20]:
        flat.range_search(q[None], RADIUS + 1)
    single = (time.process_time() - started) / 20 * 1000
    rows.append(["faiss IndexBinaryFlat (exact brute force)", "0.0 s", "32", f"{single:.2f}"])
    if multihash:
        started = time.process_time()
        multi = faiss.IndexBinaryMultiHash(256, 16, 16)
        multi.nflip = 1  # 16 tables x 16 bits, one flip: exact within 31
        multi.add(bank)
        build = time.process_time() - started
        memory = len(faiss.serialize_index_binary(multi)) / len(bank)
        started = time.process_time()
        for q in queries[:100]:
            multi.range_search(q[None], RADIUS + 1)
        single = (time.process_time() - started) / 100 * 1000
        rows.append(
            [
                "faiss IndexBinaryMultiHash 16x16 bits, nflip 1 (exact)",
                f"{build:.1f} s",
                f"{memory:.0f}",
                f"{single:.2f}",
            ]
        )
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    return rows


def _exactness(index: MultiIndex, bank: np.ndarray, queries: np.ndarray, real: np.ndarray, real_rows) -> str:
    """The index against faiss's brute force (one pass over the bank): random
    near and unrelated queries and the real PDQ hashes (which sit in the bank
    at `real_rows`) at radius 31, the first 100 random ones at 16 too."""
    check = np.concatenate([queries[:200], real])
    expected = flat_search(check, bank, RADIUS)
    ok = _same(index.search(check, RADIUS), expected)
    narrow = (expected.queries < 100) & (expected.distances <= 16)
    got = index.search(check[:100], 16)
    ok &= all(np.array_equal(getattr(got, f), getattr(expected, f)[narrow]) for f in ("queries", "rows", "distances"))
    checks, pairs = len(check) + 100, len(expected) + int(narrow.sum())
    # Each real photo, among millions of random hashes, finds itself and some of its edits.
    found = index.search(real[::8], RADIUS)
    edits = [
        int(np.isin(real_rows[p * 8 : p * 8 + 8], found.rows[found.queries == p]).sum()) for p in range(len(PHOTOS))
    ]
    return (
        f"{'yes' if ok else 'NO'} ({checks} queries, {pairs} pairs; each real photo finds "
        f"{min(edits)}-{max(edits)} of its 8 versions within {RADIUS})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--seconds", type=float, default=5.0, help="per throughput measurement")
    parser.add_argument("--faiss-multihash", action="store_true", help="also build faiss's multi-hash index (slow)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    begun = time.perf_counter()
    load_before = os.getloadavg()[0]
    rng = np.random.default_rng(0)
    rows, faiss_rows, retro, decode = [], [], [], 0.0
    started = time.perf_counter()
    warm()
    _log(f"compiled loops ready in {time.perf_counter() - started:.1f} s (numba's cache)")
    real = real_pdq_hashes()
    _log(f"{len(real)} real PDQ hashes of {len(PHOTOS)} photos and their edits")
    work = Path(tempfile.mkdtemp(prefix="hashbank-bench-"))
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            _log(f"{size:,} hashes: generating")
            bank = rng.integers(0, 256, (size, 32), dtype=np.uint8)
            real_rows = rng.choice(size, len(real), replace=False)
            bank[real_rows] = real
            banks = rng.integers(1, 20, size, dtype=np.int32)  # the bank id kept per entry, as the service does
            queries = _queries(rng, bank, 4096)
            _log(f"{size:,} hashes: building")
            wall, cpu = time.perf_counter(), time.process_time()
            built = MultiIndex.build(bank, extra={"bank": banks})
            build_wall, build_cpu = time.perf_counter() - wall, time.process_time() - cpu
            per_hash = built.nbytes() / size
            built.save(work / str(size))
            chunks = len(built.widths)
            del built
            index = MultiIndex.load(work / str(size))
            index.search(queries, RADIUS)  # the pages of the mapping, once
            _log(f"{size:,} hashes: {chunks} chunks, built in {build_wall:.1f} s; single lookups")
            single_wall, single_cpu = _single(index, queries[:1000])
            _log(f"{size:,} hashes: {single_cpu:.3f} ms CPU a lookup; throughput, 1 and 2 processes")
            one_wall, one_cpu = _throughput(work / str(size), queries, BATCH, 1, args.seconds)
            two_wall, two_cpu = _throughput(work / str(size), queries, BATCH, 2, args.seconds)
            _log(f"{size:,} hashes: {two_cpu:,.0f} lookups per CPU second in 2 processes; exactness")
            exact = _exactness(index, bank, queries, real, real_rows)
            started = time.process_time()
            for _ in range(10):
                MultiIndex.build(rng.integers(0, 256, (20_000, 32), dtype=np.uint8))
            delta = (time.process_time() - started) / 10 * 1000
            rows.append(
                [
                    f"{size:,}",
                    chunks,
                    f"{build_cpu:.1f} s ({build_wall:.1f} s)",
                    f"{per_hash:.0f} B",
                    f"{single_cpu:.3f} ({single_wall:.3f})",
                    f"{one_cpu:,.0f} ({one_wall:,.0f})",
                    f"{two_cpu:,.0f} ({two_wall:,.0f})",
                    f"{delta:.1f} ms",
                    exact,
                ]
            )
            _log(f"{size:,} hashes: {rows[-1]}")
            if size == 1_000_000:
                _log("faiss's indexes at 1,000,000")
                faiss_rows = _faiss_rows(bank, queries, args.faiss_multihash)
                # Retroactive search: a million past uploads against new entries.
                uploads = bank
                retro = []
                for entries in (1, 100, 10_000):
                    _log(f"retroactive search: 1,000,000 uploads against {entries:,} new entries")
                    new = _near(rng, uploads[rng.integers(0, size, entries)])
                    wall, cpu = time.perf_counter(), time.process_time()
                    hits = search_pairs(uploads, new, RADIUS)
                    retro.append(
                        [
                            f"{entries:,}",
                            f"{time.process_time() - cpu:.3f} s ({time.perf_counter() - wall:.3f} s)",
                            f"{len(np.unique(hits.queries)):,}",
                        ]
                    )
                hexes = [uploads[i].tobytes().hex() for i in range(size)]
                started = time.process_time()
                np.frombuffer(bytes.fromhex("".join(hexes)), np.uint8)
                decode = time.process_time() - started
                del hexes
            del index, bank
            shutil.rmtree(work / str(size))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    load = f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    output = table(
        [
            "bank size",
            "chunks",
            "build, CPU (wall)",
            "memory per hash",
            "ms per single lookup, CPU (wall)",
            f"lookups/s, 1 process, batches of {BATCH}: per CPU second (wall)",
            "lookups/s, 2 processes sharing the snapshot: per CPU second (wall)",
            "delta of 20,000 new entries (CPU)",
            "exact vs brute force",
        ],
        rows,
    )
    if faiss_rows:
        output += "\n\nThe faiss binary indexes at 1,000,000 hashes (one thread, CPU time):\n\n" + table(
            ["index", "build", "bytes per hash", "ms per single lookup"], faiss_rows
        )
    if retro:
        output += (
            "\n\nRetroactive search: 1,000,000 past uploads' hashes against new bank entries, CPU (wall) (the search "
            f"itself; turning 1,000,000 stored hex hashes into bytes takes {decode:.2f} s more):\n\n"
            + table(["new entries", "search time", "uploads matched"], retro)
        )
    output += f"\n\nLoad average (1 min) during the run: {load}. Whole run: {time.perf_counter() - begun:.0f} s."
    print("\n" + output)
    if not args.no_write:
        write_section(
            "hash_bank",
            "PDQ hash banks at 1 M and 10 M hashes",
            (
                f"Random 256-bit hashes with {len(real)} real PDQ hashes among them (scikit-image's sample photos "
                f"and edits of each); radius {RADIUS} (PDQ's usual); queries half near-duplicates of a banked hash "
                "(0-31 bits flipped), half unrelated. The index is exact (multi-index hashing with a compiled "
                "probe-and-verify loop, classifier/ml/hash_index.py and hash_kernels.py): answers are checked "
                "against faiss's brute force. Memory per hash counts every array of the snapshot (hashes, ids, "
                "bank ids, per-chunk order and bucket offsets); the snapshot is memory-mapped, so a host's "
                "processes share one copy. Each timing is CPU time, what a dedicated core would take, and in "
                "brackets the wall clock, which on a shared machine also counts the time spent waiting for a "
                "core.\n\n" + output
            ),
            "python -m bench.hash_bank",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

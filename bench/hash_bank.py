"""PDQ lookup time against banks of 10k, 100k and 1M hashes: brute force
(vectorised XOR + popcount over the whole bank) against the multi-index.

    python -m bench.hash_bank [--no-write]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from bench.common import table, write_section
from classifier.ml.hashing import HashIndex, hamming_distances, to_words


def _near(rng, row: np.ndarray, flips: int) -> bytes:
    bits = np.unpackbits(row)
    bits[rng.choice(256, flips, replace=False)] ^= 1
    return np.packbits(bits).tobytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = []
    for size in (10_000, 100_000, 1_000_000):
        bank = rng.integers(0, 256, (size, 32), dtype=np.uint8)
        words = to_words(bank)
        started = time.perf_counter()
        index = HashIndex(bank)
        build = time.perf_counter() - started
        # Half the queries are near-duplicates of a banked hash (distance 20), half unrelated.
        queries = [_near(rng, bank[rng.integers(size)], 20) if i % 2 == 0 else rng.integers(0, 256, 32, dtype=np.uint8).tobytes()
                   for i in range(args.queries)]
        started = time.perf_counter()
        for q in queries[: max(10, args.queries // 10)]:
            distances = hamming_distances(q, words)
            int(distances.argmin())
        brute = (time.perf_counter() - started) / max(10, args.queries // 10) * 1000
        started = time.perf_counter()
        found = sum(index.nearest_within(q, 31) is not None for q in queries)
        indexed = (time.perf_counter() - started) / len(queries) * 1000
        assert found == len(queries) // 2, found
        rows.append([f"{size:,}", brute, indexed, brute / indexed, f"{build:.2f} s", f"{found}/{len(queries)}"])
        print(f"measured {size:,}", flush=True)
    output = table(["bank size", "brute force ms/lookup", "multi-index ms/lookup", "× faster", "index build",
                    "matches found (expected half)"], rows)
    print("\n" + output)
    if not args.no_write:
        write_section("hash_bank", "PDQ hash bank lookup", "Random 256-bit hashes; radius 31 (the default). "
                      "The multi-index is exact for radii under 32.\n\n" + output, "python -m bench.hash_bank")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The compiled loops behind classifier.ml.hash_index (numba).

A lookup in a multi-index is a few thousand probes of bucket offsets and a
few thousand candidate rows checked by their full 256-bit distance, each a
random memory access. Done by numpy, every step is a whole-array pass with
its own temporary arrays; here each query walks its probes and candidates in
one loop, so the processor overlaps the cache misses and nothing is
allocated per candidate.

Compiled code is cached on disk (`cache=True`) under NUMBA_CACHE_DIR, by
default `$VAR_DIR/numba` (the same var/ folder the settings use), so only the
first process of an install pays for compiling (~7 s); later processes load
it (~0.5-1 s, on their first lookup, as models load on their first image).
`hash_index.warm()` compiles at install time (install_models).
"""

from __future__ import annotations

import os
from pathlib import Path


def _cache_dir() -> str:
    """$VAR_DIR/numba when it can be written (classifier.ml imports no
    Django: VAR_DIR's default is repeated from config/settings/base.py);
    else "" and numba caches where it would by itself."""
    folder = Path(os.environ.get("VAR_DIR") or Path(__file__).resolve().parents[2] / "var") / "numba"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return ""
    return str(folder) if os.access(folder, os.W_OK) else ""


if not os.environ.get("NUMBA_CACHE_DIR") and (_folder := _cache_dir()):
    os.environ["NUMBA_CACHE_DIR"] = _folder

import numba  # noqa: E402 (NUMBA_CACHE_DIR must be set before numba reads its configuration)
import numpy as np  # noqa: E402
from llvmlite import ir  # noqa: E402
from numba import types  # noqa: E402
from numba.core import cgutils  # noqa: E402
from numba.extending import intrinsic  # noqa: E402

if not numba.config.CACHE_DIR and os.environ.get("NUMBA_CACHE_DIR"):
    numba.config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]  # numba was imported before the variable was set


@intrinsic
def _popcount(typingctx, x):
    """One POPCNT instruction (LLVM's ctpop) on a uint64."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


@intrinsic
def _prefetch(typingctx, array, index):
    """Ask for array[index]'s cache line now (LLVM's prefetch, for reading,
    keep in every cache level); it is read a few hundred steps later."""
    sig = types.void(array, index)

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        array_value = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(context, builder, array_type, array_value, [args[1]], wraparound=False)
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        prefetch = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]), "llvm.prefetch.p0"
        )
        builder.call(prefetch, [builder.bitcast(pointer, byte_pointer), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(cache=True, inline="always")
def _distance(a0, a1, a2, a3, words, row):
    return (
        _popcount(a0 ^ words[row, 0])
        + _popcount(a1 ^ words[row, 1])
        + _popcount(a2 ^ words[row, 2])
        + _popcount(a3 ^ words[row, 3])
    )


@numba.njit(cache=True, inline="always")
def _chunk(words, i, word, shift, spill, mask):
    """Chunk value of row i: `mask` bits from bit `shift` of word `word`,
    continued into the next word when `spill` > 0 (then spill = 64 - shift)."""
    value = words[i, word] >> shift
    if spill > 0:
        value |= words[i, word + 1] << spill
    return value & mask


@numba.njit(cache=True, nogil=True)
def chunk_column(words, word, shift, spill, mask, out):
    """out[i] = the chunk value of row i (uint32)."""
    for i in range(words.shape[0]):
        out[i] = np.uint32(_chunk(words, i, word, shift, spill, mask))


@numba.njit(cache=True, nogil=True)
def counting_sort(values, slots, offsets, order):
    """Rows by chunk value, stable (a counting sort): offsets (slots + 1,
    int32) gets where each value's rows start in `order` (int32)."""
    counts = np.zeros(slots + 1, np.int64)
    for v in values:
        counts[v + 1] += 1
    for s in range(slots):
        counts[s + 1] += counts[s]
    for s in range(slots + 1):
        offsets[s] = counts[s]
    for i in range(values.shape[0]):
        v = values[i]
        order[counts[v]] = i
        counts[v] += 1


@numba.njit(cache=True, nogil=True)
def multi_index_search(
    queries, words, order, starts, base, cword, cshift, cspill, cmask, cwidth, cradius, radius, out_q, out_r, out_d
):
    """Every (query, row) pair within `radius`, each found once.

    Chunk j is probed with every value within cradius[j] bits of the query's
    chunk j (0, 1 or 2 bits flipped; -1: chunk j is not probed); the caller
    picks radii so that any row within `radius` has some probed chunk within
    its chunk radius (pigeonhole). A candidate is verified by its full
    distance; a row found through chunk j is kept only if no earlier chunk k
    is within cradius[k] (it was kept there), so duplicates cost no set.

    Each query runs in stages, each a loop of independent memory reads that
    the processor overlaps, with the next read prefetched: every probe's
    bucket slot; each slot's run of rows; each run's row numbers; each
    row's hash, verified. (One loop doing all four for a probe at a time
    waits for each miss in turn.)

    Writes up to len(out_q) pairs and returns how many there are in all: if
    that is more, the caller searches again with room for them."""
    m = cword.shape[0]
    n = order.shape[1]
    flat_order = order.reshape(-1)
    flat_words = words.reshape(-1)
    capacity = out_q.shape[0]
    found = 0
    most_probes = 0
    for j in range(m):
        w = cwidth[j]
        r = cradius[j]
        if r >= 0:
            most_probes += 1 + (w if r >= 1 else 0) + (w * (w - 1) // 2 if r >= 2 else 0)
    slots = np.empty(most_probes, np.int64)
    slot_chunk = np.empty(most_probes, np.int64)
    run_first = np.empty(most_probes, np.int64)
    run_last = np.empty(most_probes, np.int64)
    run_chunk = np.empty(most_probes, np.int64)
    rows = np.empty(4096, np.int64)
    row_chunk = np.empty(4096, np.int64)
    for qi in range(queries.shape[0]):
        a0 = queries[qi, 0]
        a1 = queries[qi, 1]
        a2 = queries[qi, 2]
        a3 = queries[qi, 3]
        # 1. Probe slots: the query's chunk value with 0..r bits flipped.
        n_slots = 0
        for j in range(m):
            r = cradius[j]
            if r < 0:
                continue
            value = _chunk(queries, qi, cword[j], cshift[j], cspill[j], cmask[j])
            width = cwidth[j]
            n_first = width if r >= 1 else 0
            for f1 in range(-1, n_first):
                flip1 = np.uint64(0) if f1 < 0 else np.uint64(1) << np.uint64(f1)
                n_second = f1 if (r >= 2 and f1 >= 0) else 0
                for f2 in range(-1, n_second):
                    flip2 = np.uint64(0) if f2 < 0 else np.uint64(1) << np.uint64(f2)
                    slot = base[j] + np.int64(value ^ flip1 ^ flip2)
                    _prefetch(starts, slot)
                    slots[n_slots] = slot
                    slot_chunk[n_slots] = j
                    n_slots += 1
        # 2. Each slot's run of rows in its chunk's order; empty ones dropped.
        n_runs = 0
        for i in range(n_slots):
            lo = starts[slots[i]]
            hi = starts[slots[i] + 1]
            run_first[n_runs] = slot_chunk[i] * n + lo
            run_last[n_runs] = slot_chunk[i] * n + hi
            run_chunk[n_runs] = slot_chunk[i]
            _prefetch(flat_order, slot_chunk[i] * n + lo)
            n_runs += 1 if hi > lo else 0
        # 3. The candidate rows, their hashes prefetched.
        n_rows = 0
        for i in range(n_runs):
            size = run_last[i] - run_first[i]
            if n_rows + size > rows.shape[0]:
                grown = max(2 * rows.shape[0], n_rows + size)
                rows_grown = np.empty(grown, np.int64)
                rows_grown[:n_rows] = rows[:n_rows]
                chunk_grown = np.empty(grown, np.int64)
                chunk_grown[:n_rows] = row_chunk[:n_rows]
                rows = rows_grown
                row_chunk = chunk_grown
            for p in range(run_first[i], run_last[i]):
                row = np.int64(flat_order[p])
                _prefetch(flat_words, row * 4)
                rows[n_rows] = row
                row_chunk[n_rows] = run_chunk[i]
                n_rows += 1
        # 4. Verify each candidate by its full distance.
        for i in range(n_rows):
            row = rows[i]
            d = _distance(a0, a1, a2, a3, words, row)
            if d > radius:
                continue
            j = row_chunk[i]
            first = True
            for k in range(j):
                if cradius[k] >= 0:
                    ck = _chunk(queries, qi, cword[k], cshift[k], cspill[k], cmask[k])
                    rk = _chunk(words, row, cword[k], cshift[k], cspill[k], cmask[k])
                    if _popcount(ck ^ rk) <= cradius[k]:
                        first = False
                        break
            if first:
                if found < capacity:
                    out_q[found] = qi
                    out_r[found] = row
                    out_d[found] = d
                found += 1
    return found


@numba.njit(cache=True, nogil=True)
def flat_search(queries, words, radius, out_q, out_r, out_d):
    """Brute force: every row against every query (same contract as
    multi_index_search). For small indexes and radii too wide to probe."""
    capacity = out_q.shape[0]
    found = 0
    for qi in range(queries.shape[0]):
        a0 = queries[qi, 0]
        a1 = queries[qi, 1]
        a2 = queries[qi, 2]
        a3 = queries[qi, 3]
        for row in range(words.shape[0]):
            d = _distance(a0, a1, a2, a3, words, row)
            if d <= radius:
                if found < capacity:
                    out_q[found] = qi
                    out_r[found] = row
                    out_d[found] = d
                found += 1
    return found

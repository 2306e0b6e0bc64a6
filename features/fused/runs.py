"""Symbol codes of a bars table already in (symbol, ts) order, from the runs of its symbol column's bytes.

The lake stores bars by symbol, then time, so a symbol's rows are one run and the runs come in name order. Their
codes are then the run numbers: :func:`run_codes` reads the names' UTF-8 bytes from the Arrow buffers, compares
each name with the one before (equal: the same run) and each new run's name with the last run's (it must sort
after it). That is ~3 ns a row against ~30 for hashing every name into a dictionary (``pyarrow.compute
.dictionary_encode``), which the fold still uses for bars in any other order.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from features.symtab import string_buffers


def encode(bars: pa.Table) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Stamps, and symbol codes that follow name order (so "sorted by symbol" is "sorted by code")."""
    ts = bars.column("ts").cast(pa.int64()).to_numpy()
    runs = sorted_runs(bars.column("symbol"))  # bars in the lake's order: the runs are the codes
    if runs is not None:
        return ts, runs[0], runs[1]
    enc = pc.dictionary_encode(bars.column("symbol")).combine_chunks()
    order = pc.array_sort_indices(enc.dictionary).to_numpy()
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    names = enc.dictionary.take(order).to_pylist()
    return ts, rank[enc.indices.to_numpy(zero_copy_only=False)], names


def sorted_runs(col: pa.ChunkedArray) -> tuple[np.ndarray, list[str]] | None:
    """Each row's code and the names in code order, if ``col``'s names come in runs sorted by name; else None."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if arr.null_count or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    n = len(arr)
    code, firsts = np.empty(n, np.int64), np.empty(n + 1, np.int64)  # row-sized: from numpy (huge pages)
    k = run_codes(*string_buffers(arr), code, firsts)
    if k < 0:
        return None
    return code, arr.take(pa.array(firsts[:k])).to_pylist()


@njit(cache=True)
def run_codes(offsets, start, data, code, firsts):
    """Run numbers of the names ``data[offsets[start + r]:offsets[start + r + 1]]`` into ``code`` and each run's
    first row into ``firsts``; the number of runs, or -1 as soon as a run's name does not sort after the last
    run's (byte order, as Arrow sorts strings)."""
    n = code.shape[0]
    k = -1
    for r in range(n):
        a0, a1 = offsets[start + r], offsets[start + r + 1]
        if r > 0:
            b0, b1 = offsets[start + r - 1], offsets[start + r]
            c = compare(data, a0, a1, b0, b1)
            if c < 0:
                return -1
            if c == 0:
                code[r] = k
                continue
        k += 1
        firsts[k] = r
        code[r] = k
    return k + 1


@njit(cache=True, inline="always")
def compare(data, a0, a1, b0, b1):
    """Byte-order comparison of the names ``data[a0:a1]`` and ``data[b0:b1]``: -1, 0 or 1."""
    la, lb = a1 - a0, b1 - b0
    for j in range(min(la, lb)):
        x, y = data[a0 + j], data[b0 + j]
        if x != y:
            return 1 if x > y else -1
    return 0 if la == lb else (1 if la > lb else -1)

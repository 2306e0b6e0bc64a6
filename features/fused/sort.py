"""A stable argsort of float64 keys for the per-minute cross-sectional rank: LSD radix on the IEEE bits.

Stable (equal keys keep their input order, as ``np.argsort(kind="stable")``), and several times faster than a
comparison sort on 5,000 keys. ``-0.0`` sorts equal to ``0.0``; keys must not be NaN.
"""

import numpy as np
from numba import njit

BITS = 11
BUCKETS = 1 << BITS
PASSES = 6  # 6 x 11 bits >= 64


@njit(cache=True)
def stable_argsort(vals):
    """The order that sorts ``vals`` (stable)."""
    n = vals.shape[0]
    order = np.empty((2, n), np.int64)  # the two buffers of the passes, alternating
    return order[radix_argsort(vals, np.empty(n, np.uint64), order, np.empty(BUCKETS + 1, np.int64))].copy()


@njit(cache=True, _nrt=False)
def radix_argsort(vals, keys, order, counts):
    """:func:`stable_argsort` on caller-owned scratch (``keys`` ``(n,)`` uint64, ``order`` ``(2, n)`` int64,
    ``counts`` ``(BUCKETS + 1,)``); returns which row of ``order`` holds the result."""
    n = vals.shape[0]
    sign = np.uint64(1) << np.uint64(63)
    for i in range(n):
        v = vals[i]
        if v == 0.0:
            v = 0.0  # -0.0 ties with 0.0, as in a comparison sort
        b = np.float64(v).view(np.uint64)
        keys[i] = ~b if b & sign else b | sign
        order[0, i] = i
    cur = 0
    mask = np.uint64(BUCKETS - 1)
    for p in range(PASSES):
        shift = np.uint64(p * BITS)
        for d in range(BUCKETS + 1):
            counts[d] = 0
        top = 0
        for i in range(n):
            d = ((keys[i] >> shift) & mask) + 1
            counts[d] += 1
            top = max(top, counts[d])
        if top == n:
            continue  # every key has the same digit: this pass would not move anything
        for d in range(BUCKETS):
            counts[d + 1] += counts[d]
        src, dst = order[cur], order[1 - cur]
        for q in range(n):
            i = src[q]
            d = (keys[i] >> shift) & mask
            dst[counts[d]] = i
            counts[d] += 1
        cur = 1 - cur
    return cur

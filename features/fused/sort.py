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
    n = vals.shape[0]
    keys = np.empty(n, np.uint64)
    sign = np.uint64(1) << np.uint64(63)
    for i in range(n):
        v = vals[i]
        if v == 0.0:
            v = 0.0  # -0.0 ties with 0.0, as in a comparison sort
        b = np.float64(v).view(np.uint64)
        keys[i] = ~b if b & sign else b | sign
    order = np.arange(n)
    tmp = np.empty(n, np.int64)
    counts = np.empty(BUCKETS + 1, np.int64)
    mask = np.uint64(BUCKETS - 1)
    for p in range(PASSES):
        shift = np.uint64(p * BITS)
        counts[:] = 0
        for i in range(n):
            counts[((keys[i] >> shift) & mask) + 1] += 1
        if counts.max() == n:
            continue  # every key has the same digit: this pass would not move anything
        for d in range(BUCKETS):
            counts[d + 1] += counts[d]
        for q in range(n):
            i = order[q]
            d = (keys[i] >> shift) & mask
            tmp[counts[d]] = i
            counts[d] += 1
        order, tmp = tmp, order
    return order

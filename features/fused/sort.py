"""A stable argsort of float64 keys for the per-minute cross-sectional rank: LSD radix on the IEEE bits.

Stable (equal keys keep their input order, as ``np.argsort(kind="stable")``), and several times faster than a
comparison sort on 5,000 keys. ``-0.0`` sorts equal to ``0.0``; keys must not be NaN.

The passes over the top 33 bits (sign, exponent, 21 bits of mantissa) come first and alone: they order 5,000
returns but for a rare pair within ~5e-7 of each other, and for exact ties. Each run of keys sharing those bits
(left in input order by the stable passes) is then insertion-sorted on the whole key, stably: exact ties cost one
comparison each. If the runs would need more than ``n`` moves (many distinct keys close together), the sort
starts over with every pass. Either way the order is the full stable sort's.
"""

import numpy as np
from numba import njit

BITS = 11
BUCKETS = 1 << BITS
PASSES = 6  # 6 x 11 bits >= 64
HIGH = 3  # the passes over the top 33 bits


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
    cur = radix_passes(keys, n, order, counts, 0, PASSES - HIGH, PASSES)
    if finish_runs(keys, order[cur, :n], np.uint64(BITS * (PASSES - HIGH))):
        return cur
    for i in range(n):  # too many close keys: every pass, from the input order
        order[0, i] = i
    return radix_passes(keys, n, order, counts, 0, 0, PASSES)


@njit(cache=True, _nrt=False)
def radix_passes(keys, n, order, counts, cur, first, last):
    """LSD passes ``first:last`` (digit ``p`` is bits ``p * BITS`` up) over the first ``n`` keys from
    ``order[cur]``; the row of the result."""
    mask = np.uint64(BUCKETS - 1)
    for p in range(first, last):
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


@njit(cache=True, _nrt=False)
def finish_runs(keys, idx, shift):
    """``idx`` sorted on ``keys >> shift`` (stably): insertion-sort each run of equal high bits on the whole key,
    stably. False (``idx`` then partly sorted) if that would take more than ``len(idx)`` moves."""
    n = idx.shape[0]
    budget = n
    a = 0
    while a < n:
        hi = keys[idx[a]] >> shift
        b = a + 1
        while b < n and keys[idx[b]] >> shift == hi:
            b += 1
        for q in range(a + 1, b):  # the run a:b in input order; insert each element after its equals
            i = idx[q]
            k = keys[i]
            j = q
            while j > a and keys[idx[j - 1]] > k:
                idx[j] = idx[j - 1]
                j -= 1
                budget -= 1
            idx[j] = i
            if budget < 0:
                return False
        a = b
    return True

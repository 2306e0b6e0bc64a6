"""Small compiled helpers for the lane kernels: committing state, emitting outputs, rings.

A lane kernel works on a block of registry rows ``lo .. lo + nl`` at one minute. Its arithmetic runs in loops
over the lanes with selects instead of branches (``new if u[l] else old``), so LLVM turns them into SIMD; ring
pushes and look-backs (one slot per lane) and libm calls get small loops of their own.
"""

import math

import numpy as np
from numba import njit

NAN = np.nan


@njit(cache=True, inline="always")
def emit(fo, q, lo, nl, u, nn, warm, vals):
    """Output ``q`` of the updated lanes: ``vals`` (NaN while a lane's update count is below the warm-up)."""
    f = fo[q, lo : lo + nl]
    w = warm[q]
    for l in range(nl):
        v = vals[l] if nn[l] >= w else NAN
        f[l] = v if u[l] else f[l]


@njit(cache=True, inline="always")
def push(buf, cnt, lo, nl, u, vals):
    """Push ``vals`` onto the rings of the updated lanes (``buf`` is ``(w, n)``, ``cnt`` the push counts)."""
    w = buf.shape[0]
    c = cnt[lo : lo + nl]
    for l in range(nl):
        if u[l]:
            k = c[l]
            buf[k % w, lo + l] = vals[l]
            c[l] = k + 1


@njit(cache=True, inline="always")
def push2(buf, cnt, lo, nl, u, vals):
    """:func:`push` for a ring whose width is a power of two (a mask instead of a division)."""
    mask = buf.shape[0] - 1
    c = cnt[lo : lo + nl]
    for l in range(nl):
        if u[l]:
            k = c[l]
            buf[k & mask, lo + l] = vals[l]
            c[l] = k + 1


@njit(cache=True, inline="always")
def ago2(buf, cnt, i, k):
    """``Ring.ago`` on a power-of-two ring: the value pushed ``k`` pushes before the latest, NaN if none."""
    c = cnt[i]
    if c > k:
        return buf[(c - 1 - k) & (buf.shape[0] - 1), i]
    return NAN


@njit(cache=True, inline="always")
def ring_sum(buf, lo, nl, out):
    """Each lane's sum of its ring's slots, in slot order (every caller gets the same bits)."""
    for l in range(nl):
        out[l] = 0.0
    for j in range(buf.shape[0]):
        row = buf[j, lo : lo + nl]
        for l in range(nl):
            out[l] += row[l]


@njit(cache=True, inline="always")
def ema(prev, v, a):
    return v if math.isnan(prev) else prev + a * (v - prev)


@njit(cache=True, inline="always")
def put(fo, q, i, v, nn, warm):
    """One symbol's output ``q`` (NaN while its update count is below the warm-up)."""
    fo[q, i] = v if nn >= warm[q] else NAN

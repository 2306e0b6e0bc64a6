"""Small compiled helpers shared by the engine's stages."""

import math

import numpy as np
from numba import njit

NAN = np.nan


@njit(cache=True, inline="always")
def ago2(buf, cnt, i, k):
    """``Ring.ago`` on a power-of-two ring: the value pushed ``k`` pushes before the latest, NaN if none."""
    c = cnt[i]
    if c > k:
        return buf[(c - 1 - k) & (buf.shape[0] - 1), i]
    return NAN


@njit(cache=True, inline="always")
def ema(prev, v, a):
    return v if math.isnan(prev) else prev + a * (v - prev)


@njit(cache=True, inline="always")
def put(fo, q, i, v, nn, warm):
    """Symbol ``i``'s output ``q`` into the last outputs (NaN while its update count is below the warm-up)."""
    fo[q, i] = gate(v, nn, warm[q])


@njit(cache=True, inline="always")
def gate(v, nn, w):
    """``v``, or NaN while the update count ``nn`` is below the warm-up ``w``."""
    return v if nn >= w else NAN


@njit(cache=True, inline="always")
def ring_sum(buf, i):
    """Sum of symbol ``i``'s ring slots: four interleaved partial sums in slot order, then ``(s0 + s1) + (s2 +
    s3)`` — one fixed order (every caller gets the same bits) with short dependency chains."""
    w = buf.shape[0]
    s0 = s1 = s2 = s3 = 0.0
    j = 0
    while j + 4 <= w:
        s0 += buf[j, i]
        s1 += buf[j + 1, i]
        s2 += buf[j + 2, i]
        s3 += buf[j + 3, i]
        j += 4
    while j < w:
        s0 += buf[j, i]
        j += 1
    return (s0 + s1) + (s2 + s3)

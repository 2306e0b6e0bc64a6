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
    fo[q, i] = v if nn >= warm[q] else NAN

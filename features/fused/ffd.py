"""Stage 2: the fractionally differentiated log price, ``sum_a w_a * lp[t - a]`` over the session-minute grid.

Each symbol keeps its last ``K`` grid pushes in a doubled ring (``buf`` is ``(2K, n)`` stored column-major, so a
symbol's ring is contiguous; slot ``s`` is written at ``s`` and ``s + K``): the window ending at slot ``ptr`` is
the contiguous run ``buf[ptr + 1 : ptr + 1 + K, i]``, oldest first. One summation order, whoever computes it:
eight partial sums over the window positions ``j = 0, 8, 16, ...``, ``1, 9, ...`` (oldest first), combined as
``((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7))``. The online step sums one window per symbol
(:func:`ffd_dot`); the batch fold convolves a symbol's whole day at once (:func:`ffd_series`, eight partial-sum rows
over the minutes) — the same operands in the same order, so the same bits.
"""

import math

import numpy as np
from numba import njit

from features.fused.ops import put

NAN = np.nan


@njit(cache=True, inline="always")
def combine(p0, p1, p2, p3, p4, p5, p6, p7):
    return ((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7))


@njit(cache=True, _nrt=False)
def ffd_dot(x, base, wr):
    """``sum_j wr[j] * x[base + j]`` in the FFD order (``wr`` are the weights oldest first)."""
    k = wr.shape[0]
    p0 = p1 = p2 = p3 = p4 = p5 = p6 = p7 = 0.0
    j = 0
    while j + 8 <= k:
        p0 += wr[j] * x[base + j]
        p1 += wr[j + 1] * x[base + j + 1]
        p2 += wr[j + 2] * x[base + j + 2]
        p3 += wr[j + 3] * x[base + j + 3]
        p4 += wr[j + 4] * x[base + j + 4]
        p5 += wr[j + 5] * x[base + j + 5]
        p6 += wr[j + 6] * x[base + j + 6]
        p7 += wr[j + 7] * x[base + j + 7]
        j += 8
    r = k - j  # the last few positions go to the partial sums in order, as in ffd_series
    if r > 0:
        p0 += wr[j] * x[base + j]
    if r > 1:
        p1 += wr[j + 1] * x[base + j + 1]
    if r > 2:
        p2 += wr[j + 2] * x[base + j + 2]
    if r > 3:
        p3 += wr[j + 3] * x[base + j + 3]
    if r > 4:
        p4 += wr[j + 4] * x[base + j + 4]
    if r > 5:
        p5 += wr[j + 5] * x[base + j + 5]
    if r > 6:
        p6 += wr[j + 6] * x[base + j + 6]
    return combine(p0, p1, p2, p3, p4, p5, p6, p7)


@njit(cache=True, inline="always")
def ffd_push(buf, seen, i, ptr, lp):
    """Symbol ``i``'s push at ring slot ``ptr`` (its last log price, 0 if none yet); True if it was known."""
    k = buf.shape[0] // 2
    known = not math.isnan(lp)
    v = lp if known else 0.0
    buf[ptr, i] = v
    buf[ptr + k, i] = v
    seen[i] += 1 if known else 0
    return known


@njit(cache=True, inline="always")
def ffd_online(i, ptr, upd, nn, ffd_s, p, fo):
    """Stage 2 for symbol ``i`` at one minute (pushing at slot ``ptr``); its value into ``fo`` if it updated."""
    buf, seen, last_lp, _ptr = ffd_s
    k = buf.shape[0] // 2
    ffd_push(buf, seen, i, ptr, last_lp[i])
    if upd:
        col = buf[:, i]
        put(fo, p.col[11], i, ffd_dot(col, ptr + 1, p.ffd_wr) if seen[i] >= k else NAN, nn, p.warmup)


@njit(cache=True, error_model="numpy", _nrt=False)
def ffd_series(buf, i, ptr0, lp, t_n, wr, z, acc, vals):
    """The batch side of :func:`ffd_dot`: ``vals[t]`` for every minute ``t < t_n`` of a day whose first push
    goes to ring slot ``ptr0`` (``lp[t]``: symbol ``i``'s log price after minute ``t``, NaN if none yet), then
    the day's pushes written into the ring. ``z`` and ``acc`` (``(8, >= t_n)``) are scratch."""
    k = wr.shape[0]
    col = buf[:, i]
    for j in range(k - 1):  # the K - 1 pushes before the day, oldest first
        z[j] = col[ptr0 + 1 + j]
    for t in range(t_n):
        v = lp[t]
        z[k - 1 + t] = 0.0 if math.isnan(v) else v
    for q in range(8):
        a = acc[q]
        for t in range(t_n):
            a[t] = 0.0
    for j in range(k):
        a = acc[j % 8]
        wj = wr[j]
        zs = z[j : j + t_n]
        for t in range(t_n):
            a[t] += wj * zs[t]
    for t in range(t_n):
        vals[t] = combine(acc[0, t], acc[1, t], acc[2, t], acc[3, t], acc[4, t], acc[5, t], acc[6, t], acc[7, t])
    for t in range(max(0, t_n - k), t_n):
        s = (ptr0 + t) % k
        col[s] = z[k - 1 + t]
        col[s + k] = z[k - 1 + t]

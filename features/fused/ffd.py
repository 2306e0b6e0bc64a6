"""Stage 2: the fractionally differentiated log price, ``sum_a w_a * lp[t - a]`` over the session-minute grid.

Each symbol keeps its last ``K`` grid pushes in a doubled ring (``buf`` is ``(2K, n)`` stored column-major, so a
symbol's ring is contiguous; slot ``s`` is written at ``s`` and ``s + K``): the window ending at slot ``ptr`` is
the contiguous run ``buf[ptr + 1 : ptr + 1 + K, i]``, oldest first. One summation order, whoever computes it:
eight partial sums over the window positions ``j = 0, 8, 16, ...``, ``1, 9, ...`` (oldest first), combined as
``((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7))``. The online step sums one window per symbol
(:func:`ffd_dot`), or, when :func:`ffd_prepare` summed all but the newest position between minutes, adds the
newest term to its partial sum (it is that sum's last term either way); the batch fold convolves a symbol's
whole day at once (:func:`ffd_series`, eight partial-sum rows over the minutes) — the same operands in the same
order, so the same bits.
"""

import math

import numpy as np
from numba import njit

from features.fused.ops import put

NAN = np.nan


@njit(cache=True, inline="always")
def combine(p0, p1, p2, p3, p4, p5, p6, p7):
    return ((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7))


@njit(cache=True, inline="always")
def ffd_partials(x, base, wr, m):
    """The eight partial sums of ``wr[j] * x[base + j]`` over the window positions ``j < m`` (``p[j % 8]``, ``j``
    ascending)."""
    p0 = p1 = p2 = p3 = p4 = p5 = p6 = p7 = 0.0
    j = 0
    while j + 8 <= m:
        p0 += wr[j] * x[base + j]
        p1 += wr[j + 1] * x[base + j + 1]
        p2 += wr[j + 2] * x[base + j + 2]
        p3 += wr[j + 3] * x[base + j + 3]
        p4 += wr[j + 4] * x[base + j + 4]
        p5 += wr[j + 5] * x[base + j + 5]
        p6 += wr[j + 6] * x[base + j + 6]
        p7 += wr[j + 7] * x[base + j + 7]
        j += 8
    r = m - j  # the last few positions go to the partial sums in order, as in ffd_series
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
    return p0, p1, p2, p3, p4, p5, p6, p7


@njit(cache=True, inline="always")
def ffd_finish(p0, p1, p2, p3, p4, p5, p6, p7, q, v):
    """The window's value from the partial sums of all positions but the newest, adding the newest term ``v``
    last to its partial sum ``q`` — the order :func:`ffd_partials` over the whole window gives."""
    p0 += v if q == 0 else 0.0
    p1 += v if q == 1 else 0.0
    p2 += v if q == 2 else 0.0
    p3 += v if q == 3 else 0.0
    p4 += v if q == 4 else 0.0
    p5 += v if q == 5 else 0.0
    p6 += v if q == 6 else 0.0
    p7 += v if q == 7 else 0.0
    return combine(p0, p1, p2, p3, p4, p5, p6, p7)


@njit(cache=True, inline="always")
def ffd_dot(x, base, wr):
    """``sum_j wr[j] * x[base + j]`` in the FFD order (``wr`` are the weights oldest first)."""
    k = wr.shape[0]
    p0, p1, p2, p3, p4, p5, p6, p7 = ffd_partials(x, base, wr, k - 1)
    return ffd_finish(p0, p1, p2, p3, p4, p5, p6, p7, (k - 1) % 8, wr[k - 1] * x[base + k - 1])


@njit(cache=True, error_model="numpy", _nrt=False)
def ffd_prepare(buf, ptr, wr, pre):
    """Every symbol's partial sums of the window the next push (at slot ``ptr``) completes, all but its newest
    position: they only read pushes already made, so they can be summed between minutes, off the step's path."""
    k = wr.shape[0]
    for i in range(pre.shape[1]):
        col = buf[:, i]
        p0, p1, p2, p3, p4, p5, p6, p7 = ffd_partials(col, ptr + 1, wr, k - 1)
        pre[0, i], pre[1, i], pre[2, i], pre[3, i] = p0, p1, p2, p3
        pre[4, i], pre[5, i], pre[6, i], pre[7, i] = p4, p5, p6, p7


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
def ffd_online(i, ptr, upd, nn, ffd_s, p, fo, use_pre):
    """Stage 2 for symbol ``i`` at one minute (pushing at slot ``ptr``); its value into ``fo`` if it updated —
    from its prepared partial sums when ``use_pre`` and it has them (:func:`ffd_prepare`), else summed here."""
    buf, seen, last_lp, _ptr, pre, _pre_ptr = ffd_s
    k = buf.shape[0] // 2
    ffd_push(buf, seen, i, ptr, last_lp[i])
    if upd:
        v = NAN
        if seen[i] >= k:
            wr = p.ffd_wr
            if use_pre and i < pre.shape[1]:
                last = wr[k - 1] * buf[ptr + k, i]
                v = ffd_finish(pre[0, i], pre[1, i], pre[2, i], pre[3, i], pre[4, i], pre[5, i], pre[6, i],
                               pre[7, i], (k - 1) % 8, last)  # fmt: skip
            else:
                v = ffd_dot(buf[:, i], ptr + 1, wr)
        put(fo, p.col[11], i, v, nn, p.warmup)


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
    for q in range(8):  # partial sum q: the terms j = q, q + 8, ... in that order, four to a pass over the day
        a = acc[q]
        for t in range(t_n):
            a[t] = 0.0
        j = q
        while j + 24 < k:  # the same adds in the same order as one term a pass, with a quarter of the stores
            w0, w1, w2, w3 = wr[j], wr[j + 8], wr[j + 16], wr[j + 24]
            z0, z1, z2, z3 = z[j : j + t_n], z[j + 8 : j + 8 + t_n], z[j + 16 : j + 16 + t_n], z[j + 24 : j + 24 + t_n]
            for t in range(t_n):
                a[t] = (((a[t] + w0 * z0[t]) + w1 * z1[t]) + w2 * z2[t]) + w3 * z3[t]
            j += 32
        while j < k:
            wj = wr[j]
            zs = z[j : j + t_n]
            for t in range(t_n):
                a[t] += wj * zs[t]
            j += 8
    for t in range(t_n):
        vals[t] = combine(acc[0, t], acc[1, t], acc[2, t], acc[3, t], acc[4, t], acc[5, t], acc[6, t], acc[7, t])
    for t in range(max(0, t_n - k), t_n):
        s = (ptr0 + t) % k
        col[s] = z[k - 1 + t]
        col[s + k] = z[k - 1 + t]

"""One engine minute, compiled, in three stages that the online step and the batch fold share:

1. :func:`lanes` — the per-symbol kernels over a contiguous range of registry rows, and what the later stages
   read of each symbol (its 1-bar return, its rank key, its log price; the leaders' window returns);
2. FFD — the fractionally differentiated log price, a fixed-width dot product over the session-minute grid
   (:func:`ffd_online` here; :func:`features.fused.fold.ffd_block` convolves a block's whole day at once);
3. :mod:`features.fused.cross` — everything that reads other symbols: the cross-sectional rank (per minute,
   over all symbols), then per symbol SPY and the leader, beta, market volatility, and the context columns.

:func:`minute` is :meth:`FeatureEngine.step`: the three stages over the whole cross-section. The batch fold runs
stage 1 block by block through a whole day (each block's state stays in cache), then stages 2 and 3; per symbol
and minute the floating-point operations are the same, so offline rows equal served rows bit for bit.
"""

import math

import numpy as np
from numba import njit

from features.fused.cross import cross_lanes, market, rank_minute
from features.fused.kernels import averages, ranges, roc, rsi_macd
from features.fused.kernels_volume import micro, obv, volume_tod, vwap_dev
from features.fused.ops import ago2, push2, put
from features.fused.vmath import vlog

NAN = np.nan
NIN = 10  # features.reference_step.INPUTS: open high low close volume vwap bid ask bid_size ask_size
SCRATCH = 8  # rows of per-lane float scratch: previous close, 1-bar log return, and the kernels' own


@njit(cache=True, error_model="numpy")
def lanes(lo, nl, ts, minute_, session, xin, pres, halt, eng, ks, p, lslot, rec, rowmap, out, sc, nn):
    """Stage 1 for registry rows ``lo .. lo + nl`` at one minute. ``xin[:, l]`` holds lane ``l``'s bar (``pres``,
    ``halt``); ``rec = (ret1, upd, rank_key, log_price, leader_rets, leader_rv)`` receives this minute's
    values for stage 3 (indexed by registry row, leaders by ``lslot``); present rows get their kernel columns
    (up to FFD) written to ``out[rowmap[i]]``. ``sc`` is float scratch ``(SCRATCH, >= nl)``, ``nn`` int scratch."""
    last_close, last_session, last_upd_ts, nupd, fo = eng
    r_ret1, r_upd, r_rank, r_lp, r_lret, r_lrv = rec
    u = r_upd[lo : lo + nl]
    pc, r1, S = sc[0], sc[1], sc[2:]
    lc_b, ls_b, nupd_b = last_close[lo : lo + nl], last_session[lo : lo + nl], nupd[lo : lo + nl]
    for l in range(nl):
        ok = pres[l] and not halt[l]
        u[l] = ok
        nn[l] = nupd_b[l] + (1 if ok else 0)
        prev = lc_b[l]
        pc[l] = xin[0, l] if (ls_b[l] != session or math.isnan(prev)) else prev
    c = xin[3]
    for l in range(nl):
        r = vlog(c[l] / pc[l])
        r1[l] = r if u[l] else 0.0
    warm = p.warmup
    roc(lo, nl, u, nn, c, pc, ks[0], p.roc_w, p.col[0], fo, warm, S)
    rsi_macd(lo, nl, u, nn, c, pc, ks[1], ks[2], p, fo, warm, S)
    averages(lo, nl, u, nn, c, ks[3], ks[4], p, fo, warm, S)
    ranges(lo, nl, u, nn, c, xin[1], xin[2], pc, r1, ks[5], ks[6], p, fo, warm, S)
    obv(lo, nl, u, nn, xin[4], r1, ks[7], p, fo, warm, S)
    volume_tod(lo, nl, u, nn, minute_, xin[4], ks[8], p, fo, warm, S)
    vwap_dev(lo, nl, u, nn, session, c, xin[5], xin[4], ks[9], p, fo, warm, S)
    micro(lo, nl, u, nn, xin[6], xin[7], xin[8], xin[9], ks[10], p, fo, warm, S)
    # what the later stages read: log price (FFD), 1-bar return and rank key (stage 3), leaders' window returns
    last_lp = ks[11][2]
    x_csum, _cov, _var, x_rv, _n, x_hist, x_hist_n = ks[12]
    lp_b, cs_b, rv_b = last_lp[lo : lo + nl], x_csum[lo : lo + nl], x_rv[lo : lo + nl]
    va = p.x_vol_alpha
    for l in range(nl):
        lp = vlog(c[l])
        lp_b[l] = lp if u[l] else lp_b[l]
    cs = S[0]
    for l in range(nl):
        ok = u[l]
        ret = r1[l]
        v = cs_b[l] + ret
        cs[l] = v
        cs_b[l] = v if ok else cs_b[l]
        r = rv_b[l] + va * (ret * ret - rv_b[l])
        rv_b[l] = r if ok else rv_b[l]
        lc_b[l] = c[l] if ok else lc_b[l]
        ls_b[l] = session if ok else ls_b[l]
        nupd_b[l] = nn[l]
    lut_b = last_upd_ts[lo : lo + nl]
    for l in range(nl):
        lut_b[l] = ts if u[l] else lut_b[l]
    push2(x_hist, x_hist_n, lo, nl, u, cs)
    rw = p.x_rank_w
    for l in range(nl):
        i = lo + l
        ok = u[l]
        rk = NAN
        if ok and x_hist_n[i] > rw:
            rk = cs[l] - ago2(x_hist, x_hist_n, i, rw)  # the rank of the log return is the rank of the return
        r_ret1[i] = r1[l]
        r_rank[i] = rk
        r_lp[i] = lp_b[l]
        s = lslot[i]
        if s >= 0:  # a leader: its window returns and SPY-style volatility as of this minute
            for q in range(p.x_windows.shape[0]):
                r_lret[s, q] = ret_over(x_csum, x_hist, x_hist_n, i, p.x_windows[q])
            r_lrv[s] = x_rv[i] if ok else x_rv[i] + va * (0.0 - x_rv[i])
    n_out = p.col[11]  # the kernel columns written here: everything before FFD
    for l in range(nl):
        row = rowmap[lo + l]
        if row >= 0:
            for q in range(n_out):
                out[row, q] = fo[q, lo + l]


@njit(cache=True, inline="always")
def ret_over(csum, hist, hist_n, i, w):
    """``CrossAsset._ret``: the compounded return over the last ``w`` updates."""
    back = ago2(hist, hist_n, i, w) if hist_n[i] > w else 0.0
    return math.expm1(csum[i] - back)


@njit(cache=True, inline="always")
def ffd_finish(i, v, ok, nn, present_row, p, fo, out):
    """An FFD value (NaN until the window is full) into the last outputs if the symbol updated; the row served."""
    c = p.col[11]
    if ok:
        put(fo, c, i, v, nn, p.warmup)
    if present_row >= 0:
        out[present_row, c] = fo[c, i]


@njit(cache=True, error_model="numpy")
def ffd_taps(acc, z, base, stride, w):
    """``acc[e] = sum_a w[a] * z[base + e - a * stride]`` for every ``e``, accumulated from 0.0 in tap order
    ``a = 0, 1, ...`` (newest price first) — the one summation order of FFD (:func:`ffd_online` repeats it on the
    ring in place). Taps go four at a time so each partial sum is loaded and stored once per four taps."""
    m, k = acc.shape[0], w.shape[0]
    for e in range(m):
        acc[e] = 0.0
    a = 0
    while a + 4 <= k:
        w0, w1, w2, w3 = w[a], w[a + 1], w[a + 2], w[a + 3]
        o = base - a * stride
        z0 = z[o : o + m]
        z1 = z[o - stride : o - stride + m]
        z2 = z[o - 2 * stride : o - 2 * stride + m]
        z3 = z[o - 3 * stride : o - 3 * stride + m]
        for e in range(m):
            x = acc[e]
            x += w0 * z0[e]
            x += w1 * z1[e]
            x += w2 * z2[e]
            x += w3 * z3[e]
            acc[e] = x
        a += 4
    while a < k:
        wa = w[a]
        o = base - a * stride
        za = z[o : o + m]
        for e in range(m):
            acc[e] += wa * za[e]
        a += 1


@njit(cache=True, error_model="numpy")
def ffd_online(upd, eng, ffd_s, p, rowmap, out, acc):
    """Stage 2 for one minute: every registered symbol pushes its last log price (0 if none yet) onto the minute
    grid, then the age-ordered sum of :func:`ffd_taps`, reading the ring's rows in place."""
    nupd, fo = eng[3], eng[4]
    buf, seen, last_lp, ptr_a = ffd_s
    k, n = buf.shape[0], buf.shape[1]
    ptr = ptr_a[0]
    for i in range(n):
        lp = last_lp[i]
        known = not math.isnan(lp)
        buf[ptr, i] = lp if known else 0.0
        seen[i] += 1 if known else 0
        acc[i] = 0.0
    w = p.ffd_w
    a = 0
    while a + 4 <= k:
        w0, w1, w2, w3 = w[a], w[a + 1], w[a + 2], w[a + 3]
        z0, z1, z2, z3 = buf[(ptr - a) % k], buf[(ptr - a - 1) % k], buf[(ptr - a - 2) % k], buf[(ptr - a - 3) % k]
        for i in range(n):
            x = acc[i]
            x += w0 * z0[i]
            x += w1 * z1[i]
            x += w2 * z2[i]
            x += w3 * z3[i]
            acc[i] = x
        a += 4
    while a < k:
        wa, za = w[a], buf[(ptr - a) % k]
        for i in range(n):
            acc[i] += wa * za[i]
        a += 1
    ptr_a[0] = (ptr + 1) % k
    for i in range(n):
        ffd_finish(i, acc[i] if seen[i] >= k else NAN, upd[i], nupd[i], rowmap[i], p, fo, out)


@njit(cache=True, error_model="numpy")
def minute(ts, minute_, weekday, session, vix, use_vix, rows, X, halted, leader, spy, lslot, sector, eng, ks, p,
           out):  # fmt: skip
    """The online step: every stage over the whole cross-section. ``rows`` (registry rows) and ``X`` (``NIN``
    columns) are the bars stamped ``ts``; writes each bar's feature row into ``out`` in input order."""
    n = eng[0].shape[0]
    m = rows.shape[0]
    xin = np.full((NIN, n), NAN)
    pres = np.zeros(n, np.bool_)
    halt = np.zeros(n, np.bool_)
    rowmap = np.full(n, -1, np.int64)
    for j in range(m):
        i = rows[j]
        for c in range(NIN):
            xin[c, i] = X[j, c]
        pres[i] = True
        halt[i] = halted[j]
        rowmap[i] = j
    nl_max = int(lslot.max()) + 1 if n else 0
    nw = p.x_windows.shape[0]
    rec = (np.empty(n), np.zeros(n, np.bool_), np.empty(n), np.empty(n), np.full((nl_max, nw), NAN),
           np.full(nl_max, NAN))  # fmt: skip
    sc = np.empty((SCRATCH, n))
    lanes(0, n, ts, minute_, session, xin, pres, halt, eng, ks, p, lslot, rec, rowmap, out, sc, np.empty(n, np.int64))
    ffd_online(rec[1], eng, ks[11], p, rowmap, out, np.empty(n))
    rank_minute(rec[1], rec[2])
    since = np.zeros(n, np.int64)
    sp, mkt_vol = market(0, spy, since, lslot, rec[5], vix, use_vix)
    cross_lanes(0, n, ts, minute_, weekday, mkt_vol, sp, rec, leader, lslot, sector, since, 0, eng[3], eng[2], False,
                ks[12], eng[4], p, rowmap, out, np.empty(m, np.int64))  # fmt: skip

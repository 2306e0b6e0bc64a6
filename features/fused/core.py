"""One engine minute over the whole cross-section, compiled: the per-symbol kernels, then FFD, the cross-asset
features (which read the leaders' state after every symbol has updated), warm-up masking and the context columns.

``minute`` is what :meth:`FeatureEngine.step` runs online; ``fold_minutes`` calls the same ``minute`` for each
minute of a batch inside one compiled loop, so the offline path is the online step folded, as before, without
Python between minutes.
"""

import math

import numpy as np
from numba import njit

from features.fused.kernels import (
    ago,
    atr,
    bollinger,
    dot,
    macd,
    micro,
    moving_averages,
    obv,
    push,
    realized_vol,
    roc,
    rsi,
    volume_tod,
    vwap_dev,
)
from features.fused.sort import stable_argsort

NAN = np.nan


@njit(cache=True, inline="always")
def ret_over(csum, hist, hist_n, i, w):
    """``CrossAsset._ret``: the compounded return over the last ``w`` updates."""
    back = ago(hist, hist_n, i, w) if hist_n[i] > w else 0.0
    return math.expm1(csum[i] - back)


@njit(cache=True)
def minute(ts, minute_, weekday, session, vix, use_vix, rows, X, halted, leader, spy, sector, eng, ks, p, out):
    """Advance every symbol one minute; ``rows`` (registry indices) and ``X`` (the ``INPUTS`` columns) are the
    bars stamped ``ts``. Writes each bar's feature row (kernel features then context) into ``out``."""
    last_close, last_session, last_upd_ts, nupd, last_out = eng
    n, m, k_feat = last_close.shape[0], rows.shape[0], last_out.shape[1]
    ffd_buf, seen, last_lp, ptr_a = ks[11]
    x_csum, x_cov, x_var, x_rv, x_n, x_hist, x_hist_n = ks[12]
    upd = np.zeros(n, np.bool_)
    ret1 = np.zeros(n)
    # ---- the updated symbols (fresh, non-halted bar): prev close and the gap-free 1-bar log return
    uj = np.empty(m, np.int64)
    pcs = np.empty(m)
    nu = 0
    for j in range(m):
        if halted[j]:
            continue
        i = rows[j]
        c = X[j, 3]
        pc = X[j, 0] if (last_session[i] != session or math.isnan(last_close[i])) else last_close[i]
        upd[i], ret1[i] = True, math.log(c / pc)
        uj[nu], pcs[nu] = j, pc
        nu += 1
    # ---- the per-symbol kernels, one kernel at a time over the updated symbols (few memory streams each)
    col = p.col  # first column of each kernel, in default_kernels() order
    for q in range(nu):
        j = uj[q]
        i = rows[j]
        roc(i, ret1[i], ks[0], p.roc_w, last_out[i], col[0])
    for q in range(nu):
        j = uj[q]
        i = rows[j]
        rsi(i, X[j, 3] - pcs[q], ks[1], p.rsi_p, last_out[i], col[1])
        macd(i, X[j, 3], ks[2], p.macd_fast, p.macd_slow, p.macd_signal, last_out[i], col[2])
    for q in range(nu):
        j = uj[q]
        i = rows[j]
        moving_averages(i, X[j, 3], ks[3], p.ma_w, last_out[i], col[3])
    for q in range(nu):
        j = uj[q]
        i = rows[j]
        bollinger(i, X[j, 3], ks[4], p.bb_k, last_out[i], col[4])
    for q in range(nu):
        j = uj[q]
        i = rows[j]
        atr(i, X[j, 1], X[j, 2], X[j, 3], pcs[q], ks[5], p.atr_p, last_out[i], col[5])
        realized_vol(i, ret1[i], ks[6], p.rv_alpha, last_out[i], col[6])
        obv(i, ret1[i], X[j, 4], ks[7], p.obv_w, p.obv_alpha, last_out[i], col[7])
    for q in range(nu):
        j = uj[q]
        i = rows[j]
        volume_tod(i, X[j, 4], minute_, ks[8], p.vtod_a_day, p.vtod_a_all, p.vtod_floor, last_out[i], col[8])
    for q in range(nu):
        j = uj[q]
        i = rows[j]
        vwap_dev(i, X[j, 3], X[j, 5], X[j, 4], session, ks[9], last_out[i], col[9])
    for q in range(nu):
        j = uj[q]
        i = rows[j]
        micro(i, X[j, 6], X[j, 7], X[j, 8], X[j, 9], ks[10], p.micro_alpha, last_out[i], col[10])
    for q in range(nu):
        j = uj[q]
        i = rows[j]
        last_lp[i] = math.log(X[j, 3])
        x_csum[i] += ret1[i]
        push(x_hist, x_hist_n, i, x_csum[i])
        x_rv[i] = x_rv[i] + p.x_vol_alpha * (ret1[i] * ret1[i] - x_rv[i])
    # ---- FFD on the minute grid: every registered symbol writes its last log price (0 if none yet)
    k = ffd_buf.shape[1]
    ptr = ptr_a[0]
    for i in range(n):
        lp = last_lp[i]
        if math.isnan(lp):
            ffd_buf[i, ptr] = 0.0
        else:
            ffd_buf[i, ptr] = lp
            seen[i] += 1
    w_rolled = np.empty(k)
    for j in range(k):
        w_rolled[(ptr - j) % k] = p.ffd_w[j]
    ptr_a[0] = (ptr + 1) % k
    # ---- cross-asset: market-wide values, the cross-sectional rank, then each symbol against its leader
    nw = p.x_windows.shape[0]
    spy_ret = np.full(nw, NAN)
    mkt_vol = NAN
    if spy >= 0:
        for q in range(nw):
            spy_ret[q] = ret_over(x_csum, x_hist, x_hist_n, spy, p.x_windows[q])
        rv_spy = x_rv[spy] if upd[spy] else x_rv[spy] + p.x_vol_alpha * (0.0 - x_rv[spy])
        mkt_vol = math.sqrt(rv_spy)
    if use_vix:
        mkt_vol = vix
    rank = np.full(n, NAN)
    rw = p.x_rank_w
    idx = np.empty(n, np.int64)
    cnt = 0
    for i in range(n):
        if upd[i] and x_hist_n[i] > rw:
            idx[cnt] = i
            cnt += 1
    if cnt > 1:
        vals = np.empty(cnt)
        for q in range(cnt):
            vals[q] = ret_over(x_csum, x_hist, x_hist_n, idx[q], rw)
        order = stable_argsort(vals)
        for q in range(cnt):
            rank[idx[order[q]]] = q / (cnt - 1)
    ffd_col, xc = col[11], col[12]
    for j in range(m):
        i = rows[j]
        if not upd[i]:
            continue
        f = last_out[i]
        f[ffd_col] = dot(ffd_buf[i], w_rolled) if seen[i] >= k else NAN
        lead = leader[i] if leader[i] >= 0 else spy
        has = lead >= 0
        for q in range(nw):
            f[xc + q] = spy_ret[q]
            f[xc + nw + q] = ret_over(x_csum, x_hist, x_hist_n, lead, p.x_windows[q]) if has else NAN
        lr = (ret1[lead] if upd[lead] else 0.0) if has else NAN
        lrz = lr if has else 0.0
        a = max(p.x_beta_alpha, 1.0 / (x_n[i] + 1))
        x_cov[i] = x_cov[i] + a * (ret1[i] * lrz - x_cov[i])
        x_var[i] = x_var[i] + a * (lrz * lrz - x_var[i])
        x_n[i] += 1
        beta = min(max(x_cov[i] / x_var[i] if x_var[i] > 0 else 0.0, -p.x_beta_clip), p.x_beta_clip)
        if lead == i:
            beta = 1.0
        f[xc + 2 * nw] = beta if has else NAN
        f[xc + 2 * nw + 1] = ret1[i] - beta * lr
        f[xc + 2 * nw + 2] = rank[i]
        f[xc + 2 * nw + 3] = mkt_vol
        # warm-up, then the bookkeeping the next minute reads
        nupd[i] += 1
        for q in range(k_feat):
            if nupd[i] < p.warmup[q]:
                f[q] = NAN
        last_close[i] = X[j, 3]
        last_session[i] = session
        last_upd_ts[i] = ts
    # ---- the rows served: frozen (halted) or fresh kernel features, then context
    angle = 2 * np.pi * minute_ / 390.0
    s_, c_ = math.sin(angle), math.cos(angle)
    for j in range(m):
        i = rows[j]
        for q in range(k_feat):
            out[j, q] = last_out[i, q]
        out[j, k_feat] = minute_
        out[j, k_feat + 1] = s_
        out[j, k_feat + 2] = c_
        out[j, k_feat + 3] = weekday
        out[j, k_feat + 4] = 1.0 if halted[j] else 0.0
        out[j, k_feat + 5] = (ts - last_upd_ts[i]) / 60e9
        out[j, k_feat + 6] = i
        out[j, k_feat + 7] = sector[i]


@njit(cache=True)
def fold_minutes(ts, minutes, weekdays, vix, use_vix, bounds, rows, X, halted, leader, spy, sector, session, eng, ks,
                 p, out, counts):  # fmt: skip
    """``minute`` for each minute ``q`` on the bars ``bounds[q]:bounds[q + 1]`` of the time-sorted arrays."""
    nupd = eng[3]
    for q in range(ts.shape[0]):
        lo, hi = bounds[q], bounds[q + 1]
        minute(ts[q], minutes[q], weekdays[q], session, vix[q], use_vix, rows[lo:hi], X[lo:hi], halted[lo:hi],
               leader, spy, sector, eng, ks, p, out[lo:hi])  # fmt: skip
        for r in range(lo, hi):
            counts[r] = nupd[rows[r]]

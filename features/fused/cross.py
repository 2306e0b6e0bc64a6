"""Stage 3 of the engine minute: what reads other symbols.

:func:`rank_minute` ranks the minute's rank keys over the whole cross-section (it must see every symbol);
:func:`market` picks SPY and the market volatility of the minute; :func:`cross_lanes` then does each symbol's
part — its leader's window returns, beta against the leader (an EWM it carries), the residual return, rank,
market volatility — and writes the rows served: the cross-asset columns (fresh, or frozen by a halt) and the
context. It runs over a block of lanes like stage 1, so the batch fold writes each block's rows in one sweep.
"""

import math

import numpy as np
from numba import njit

from features.fused.ops import put
from features.fused.sort import stable_argsort

NAN = np.nan


@njit(cache=True, error_model="numpy")
def rank_minute(upd, keys):
    """Replace each updated symbol's rank key by its rank in ``[0, 1]`` among them (ties keep registry order);
    NaN for the others, and for everybody when fewer than two symbols have a key."""
    n = keys.shape[0]
    idx = np.empty(n, np.int64)
    cnt = 0
    for i in range(n):
        if upd[i] and not math.isnan(keys[i]):
            idx[cnt] = i
            cnt += 1
    vals = np.empty(cnt)
    for q in range(cnt):
        vals[q] = keys[idx[q]]
    for i in range(n):
        keys[i] = NAN
    if cnt > 1:
        order = stable_argsort(vals)
        for q in range(cnt):
            keys[idx[order[q]]] = q / (cnt - 1)


@njit(cache=True, error_model="numpy")
def market(t, spy, since, lslot, lrv, vix, use_vix):
    """SPY's registry row if it exists at minute ``t`` (else -1), and the minute's market volatility: SPY's EWM
    realized volatility, or the VIX series when one is used."""
    sp = spy if spy >= 0 and since[spy] <= t else -1
    mkt_vol = math.sqrt(lrv[lslot[sp]]) if sp >= 0 else NAN
    return sp, (vix if use_vix else mkt_vol)


@njit(cache=True, error_model="numpy")
def cross_lanes(lo, nl, ts, minute_, weekday, mkt_vol, sp, rec, leader, lslot, sector, since, t, nn, lut, advance,
                xa_s, fo, p, rowmap, out, counts):  # fmt: skip
    """Stage 3 for registry rows ``lo .. lo + nl`` at minute ``t`` (of the call's day; ``since[i]`` is the
    minute row ``i`` exists from). ``rec`` holds the minute's stage-1 values with ranks in place of the keys;
    ``nn``/``lut`` are the update counts and times, advanced here when ``advance``; ``counts[row]`` receives
    each served row's update count."""
    r_ret1, r_upd, r_rank, _lp, r_lret, _lrv = rec
    _csum, x_cov, x_var, _rv, x_n, _h, _hn = xa_s
    k_feat = fo.shape[0]
    nw = p.x_windows.shape[0]
    xc = p.col[12]
    warm = p.warmup
    for l in range(nl):
        i = lo + l
        if not r_upd[i]:
            continue
        if advance:
            nn[i] += 1
            lut[i] = ts
        lead = leader[i]
        if lead < 0 or since[lead] > t:
            lead = sp
        has = lead >= 0
        lsl = lslot[lead] if has else -1
        nni = nn[i]
        for q in range(nw):
            put(fo, xc + q, i, r_lret[lslot[sp], q] if sp >= 0 else NAN, nni, warm)
            put(fo, xc + nw + q, i, r_lret[lsl, q] if has else NAN, nni, warm)
        lr = r_ret1[lead] if has else NAN  # 0 when the leader did not trade this minute
        lrz = lr if has else 0.0
        a = max(p.x_beta_alpha, 1.0 / (x_n[i] + 1))
        x_cov[i] = x_cov[i] + a * (r_ret1[i] * lrz - x_cov[i])
        x_var[i] = x_var[i] + a * (lrz * lrz - x_var[i])
        x_n[i] += 1
        beta = min(max(x_cov[i] / x_var[i] if x_var[i] > 0 else 0.0, -p.x_beta_clip), p.x_beta_clip)
        if lead == i:
            beta = 1.0
        put(fo, xc + 2 * nw, i, beta if has else NAN, nni, warm)
        put(fo, xc + 2 * nw + 1, i, r_ret1[i] - beta * lr, nni, warm)
        put(fo, xc + 2 * nw + 2, i, r_rank[i], nni, warm)
        put(fo, xc + 2 * nw + 3, i, mkt_vol, nni, warm)
    angle = 2 * np.pi * minute_ / 390.0
    s_, c_ = math.sin(angle), math.cos(angle)
    for l in range(nl):
        i = lo + l
        row = rowmap[i]
        if row < 0:
            continue
        for q in range(xc, k_feat):
            out[row, q] = fo[q, i]
        out[row, k_feat] = minute_
        out[row, k_feat + 1] = s_
        out[row, k_feat + 2] = c_
        out[row, k_feat + 3] = weekday
        out[row, k_feat + 4] = 0.0 if r_upd[i] else 1.0  # present and not updated: halted
        out[row, k_feat + 5] = (ts - lut[i]) / 60e9
        out[row, k_feat + 6] = i
        out[row, k_feat + 7] = sector[i]
        counts[row] = nn[i]

"""The online engine minute, compiled: the three stages over the symbols of one minute.

1. the per-symbol kernels of :mod:`features.fused.symbol` for every symbol with a fresh bar, a kernel at a time;
2. FFD (:mod:`features.fused.ffd`): every registered symbol pushes its log price onto the minute grid, updated
   symbols get the fractionally differentiated value;
3. what reads other symbols (:mod:`features.fused.cross`): the leaders' values of the minute, the
   cross-sectional rank, then each symbol's cross-asset features and its served row.

The batch fold (:mod:`features.fused.fold`) runs the same per-symbol functions symbol by symbol through a day.
"""

import math

import numpy as np
from numba import njit

from features.fused import split
from features.fused.clock import ONLINE_STAGES, ticks
from features.fused.cross import context, leader_of, market, rank_minute, rank_scratch, symbol_cross, tod_angle
from features.fused.ffd import ffd_online
from features.fused.ops import ago2
from features.fused.rolling import prefetch, prefetch_bands, prefetch_sums
from features.fused.symbol import (
    k_atr,
    k_bands,
    k_macd,
    k_micro,
    k_obv,
    k_roc,
    k_rsi,
    k_rv,
    k_tail,
    k_vtod,
    k_vwap,
    prologue,
)

NAN = np.nan
NIN = 10  # features.reference_step.INPUTS: open high low close volume vwap bid ask bid_size ask_size
AHEAD = 8  # symbols ahead whose running-sum lines the step asks for (features.fused.rolling.prefetch_*)


@njit(cache=True, inline="always")
def ret_over(csum, hist, hist_n, i, w):
    """``CrossAsset._ret``: the compounded return over the last ``w`` updates."""
    back = ago2(hist, hist_n, i, w) if hist_n[i] > w else 0.0
    return math.expm1(csum[i] - back)


@njit(cache=True, inline="always")
def leader_record(s, i, upd, ret1, ks, p, lret, lrv, lret1):
    """Leader slot ``s`` (registry row ``i``) as of this minute: its window returns, its EWM realized volatility
    (one more decay step when it did not trade), its 1-bar return (0 when it did not trade)."""
    x_csum, _cov, _var, x_rv, _n, x_hist, x_hist_n = ks[12]
    for q in range(p.x_windows.shape[0]):
        lret[s, q] = ret_over(x_csum, x_hist, x_hist_n, i, p.x_windows[q])
    lrv[s] = x_rv[i] if upd else x_rv[i] + p.x_vol_alpha * (0.0 - x_rv[i])
    lret1[s] = ret1 if upd else 0.0


def workspace(n: int, n_lead: int, nw: int) -> tuple:
    """Scratch for :func:`minute` over ``n`` registered symbols, allocated once by the engine and reused; its last
    array accumulates each thread's cycle-counter ticks per stage (:mod:`features.fused.clock`)."""
    return (
        np.zeros(n, np.bool_), np.zeros(n), np.full(n, NAN), np.full((n_lead, nw), NAN), np.full(n_lead, NAN),
        np.zeros(n_lead), np.zeros(n, np.int64), rank_scratch(n), np.zeros(n), np.zeros(n, np.int64),
        np.zeros((2, len(ONLINE_STAGES)), np.int64),
    )  # fmt: skip


@njit(cache=True, inline="always")
def lap(clock, who, k, c0):
    """Add the ticks since ``c0`` to thread ``who``'s stage ``k``; the counter now."""
    c1 = ticks()
    clock[who, k] += c1 - c0
    return c1


@njit(cache=True, error_model="numpy", _nrt=False)
def stage1(j0, j1, who, ts, minute_, session, rows, X, halted, eng, ks, p, ws):
    """Stage 1 for the minute's bars ``j0:j1``: the calls of a symbol's minute, a kernel at a time over them (a
    few memory streams per loop; a symbol's kernels do not read each other's state, so the order across kernels
    does not matter)."""
    upd, ret1, rank, pc_w, nn_w, clock = ws[0], ws[1], ws[2], ws[8], ws[9], ws[10]
    fo = eng[4]
    c0 = ticks()
    for j in range(j0, j1):
        if not halted[j]:
            i = rows[j]
            pc_w[i], ret1[i], nn_w[i] = prologue(i, session, X[0][j], X[3][j], eng)
            upd[i] = True
    c0 = lap(clock, who, 0, c0)
    for j in range(j0, j1):
        if j + AHEAD < j1:  # the look-back ring (two lines a symbol)
            prefetch(ks[0][1], 0, rows[j + AHEAD])
            prefetch(ks[0][1], 8, rows[j + AHEAD])
        if not halted[j]:
            i = rows[j]
            k_roc(i, X[3][j], pc_w[i], nn_w[i], ks, p, fo)
            k_rsi(i, X[3][j], pc_w[i], nn_w[i], ks, p, fo)
    c0 = lap(clock, who, 1, c0)
    for j in range(j0, j1):
        if not halted[j]:
            k_macd(rows[j], X[3][j], nn_w[rows[j]], ks, p, fo)
    c0 = lap(clock, who, 2, c0)
    for j in range(j0, j1):
        if j + AHEAD < j1:
            i = rows[j + AHEAD]
            prefetch_bands(ks[4][0], ks[4][1], ks[4][2], ks[3][1], ks[3][2], i)
        if not halted[j]:
            k_bands(rows[j], X[3][j], nn_w[rows[j]], ks, p, fo)
    c0 = lap(clock, who, 3, c0)
    for j in range(j0, j1):
        if j + AHEAD < j1:  # OBV's look-back ring (one line a symbol)
            prefetch(ks[7][3], 0, rows[j + AHEAD])
        if not halted[j]:
            i = rows[j]
            k_atr(i, X[1][j], X[2][j], X[3][j], pc_w[i], nn_w[i], ks, p, fo)
            k_rv(i, ret1[i], nn_w[i], ks, p, fo)
            k_obv(i, ret1[i], X[4][j], nn_w[i], ks, p, fo)
    c0 = lap(clock, who, 4, c0)
    tod0 = ks[8][0][0]  # the same-minute means: a symbol's minute is one line, 9 KB from the next symbol's
    m_tod = min(max(minute_, 1), tod0.shape[0] - 1)
    for j in range(j0, j1):
        if j + AHEAD < j1:
            prefetch(tod0, m_tod, rows[j + AHEAD])
        if not halted[j]:
            k_vtod(rows[j], minute_, X[4][j], nn_w[rows[j]], ks, p, fo)
    c0 = lap(clock, who, 5, c0)
    for j in range(j0, j1):
        if j + AHEAD < j1:
            i = rows[j + AHEAD]
            prefetch_sums(ks[9][3], ks[9][4], ks[9][5], ks[9][7], i)
        if not halted[j]:
            i = rows[j]
            k_vwap(i, session, X[3][j], X[5][j], X[4][j], nn_w[i], ks, p, fo)
            k_micro(i, X[6][j], X[7][j], X[8][j], X[9][j], nn_w[i], ks, p, fo)
    c0 = lap(clock, who, 6, c0)
    for j in range(j0, j1):
        if j + AHEAD < j1:  # the cross-asset look-back ring (one line a symbol)
            prefetch(ks[12][5], 0, rows[j + AHEAD])
        if not halted[j]:
            i = rows[j]
            rank[i], _lp = k_tail(i, ts, session, X[3][j], ret1[i], nn_w[i], eng, ks, p)
    lap(clock, who, 7, c0)


@njit(cache=True, error_model="numpy", _nrt=False)
def stage2(i0, i1, who, eng, ks, p, ws):
    """FFD for registry rows ``i0:i1``: each pushes its log price on the minute grid (the ring's pointer moves
    after the part, once)."""
    upd, clock = ws[0], ws[10]
    c0 = ticks()
    ffd_s = ks[11]
    ptr = ffd_s[3][0]
    use_pre = ffd_s[5][0] == ptr  # partial sums prepared for this push, nothing having moved the rings since
    for i in range(i0, i1):
        ffd_online(i, ptr, upd[i], eng[3][i], ffd_s, p, eng[4], use_pre)
    lap(clock, who, 8, c0)


@njit(cache=True, error_model="numpy", _nrt=False)
def stage3(j0, j1, who, ts, minute_, weekday, vix, use_vix, rows, halted, leader, spy, lslot, sector, eng, ks, p,
           out, ws):  # fmt: skip
    """Stage 3 for the minute's bars ``j0:j1``: each updated symbol's cross-asset features, then every bar's
    served row."""
    upd, ret1, rank, lret, lrv, lret1, since, clock = ws[0], ws[1], ws[2], ws[3], ws[4], ws[5], ws[6], ws[10]
    last_upd_ts, nupd, fo = eng[2], eng[3], eng[4]
    c0 = ticks()
    sp, mkt_vol = market(0, spy, since, lslot, lrv, vix, use_vix)
    k_feat = fo.shape[0]
    s_, c_ = tod_angle(minute_)
    for j in range(j0, j1):
        i = rows[j]
        if upd[i]:
            lead = leader_of(i, 0, leader, since, sp)
            lr = lret1[lslot[lead]] if lead >= 0 else NAN
            symbol_cross(i, lead, sp, ret1[i], lr, rank[i], mkt_vol, lret, lslot, nupd[i], ks[12], fo, p)
        for q in range(k_feat):
            out[j, q] = fo[q, i]
        context(out, j, k_feat, minute_, s_, c_, weekday, halted[j], (ts - last_upd_ts[i]) / 60e9, i, sector[i])
    lap(clock, who, 11, c0)


@njit(cache=True, error_model="numpy", _nrt=False, nogil=True)
def minute(ts, minute_, weekday, session, vix, use_vix, rows, X, halted, leader, spy, lslot, leaders, sector, eng,
           ks, p, out, ws, ctrl, who, gen):  # fmt: skip
    """The online step. ``rows`` (registry rows) and ``X`` (a tuple of the ``NIN`` input columns) are the bars
    stamped ``ts``; writes each bar's feature row into ``out`` in input order. ``ws`` is :func:`workspace`.

    Called by the step's thread (``who == 0``) and by the helper thread (``who == 1``) with the same arguments
    and ``ctrl`` (:mod:`features.fused.split`: ``ctrl`` sized and numbered minute ``gen`` by ``split.begin``).
    The three per-symbol parts go claim by claim to whichever thread takes them; the rest is the caller's."""
    upd, ret1, rank, lret, lrv, lret1, rank_s, clock = ws[0], ws[1], ws[2], ws[3], ws[4], ws[5], ws[7], ws[10]
    if who != 0 and not split.enter(ctrl, gen):
        return
    if who == 0:
        for i in range(upd.shape[0]):
            upd[i] = False
            rank[i] = NAN
    for part in range(split.PARTS):
        if who == 0:
            split.open_part(ctrl, part)
            if part == 1:  # the serial part, while the helper starts on FFD
                c0 = ticks()
                for s in range(leaders.shape[0]):
                    i = leaders[s]
                    leader_record(s, i, upd[i], ret1[i], ks, p, lret, lrv, lret1)
                c0 = lap(clock, 0, 9, c0)
                rank_minute(upd, rank, rank_s)
                lap(clock, 0, 10, c0)
        elif not split.wait_open(ctrl, part):
            split.leave(ctrl)
            return
        lo, hi = split.claim(ctrl, part, who)
        while lo >= 0:
            if part == 0:
                stage1(lo, hi, who, ts, minute_, session, rows, X, halted, eng, ks, p, ws)
            elif part == 1:
                stage2(lo, hi, who, eng, ks, p, ws)
            else:
                stage3(lo, hi, who, ts, minute_, weekday, vix, use_vix, rows, halted, leader, spy, lslot, sector, eng,
                       ks, p, out, ws)  # fmt: skip
            split.finished(ctrl, part, lo, hi)
            lo, hi = split.claim(ctrl, part, who)
        if who == 0:
            split.wait_all(ctrl, part)
            if part == 1:  # every symbol pushed: the FFD rings' pointer moves, prepared sums are stale
                ffd_s = ks[11]
                ffd_s[3][0] = (ffd_s[3][0] + 1) % (ffd_s[0].shape[0] // 2)
                ffd_s[5][0] = -1
    if who == 0:
        split.end(ctrl)
    else:
        split.leave(ctrl)

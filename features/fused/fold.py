"""The compiled batch fold: the online step's per-symbol functions, run symbol by symbol through a day.

A symbol's day (:func:`symbol_day`): the prologue through the day's minutes, then each stage-1 kernel of
:mod:`features.fused.symbol` through them (one kernel's state in registers and L1 at a time; the bars are read
and the rows written sequentially when the bars come symbol by symbol, as the lake stores them), then its FFD
values as one convolution over the day (:func:`features.fused.ffd.ffd_series`); each kernel writes its columns
of the symbol's rows straight into the column-major output, a contiguous run per column. What reads other
symbols is ordered around that: the leaders (SPY, the sector ETFs) go first and record their values of every
minute; every other symbol then computes its cross-asset features right after its stage 1; the cross-sectional
rank needs every symbol's key, so it comes last, a minute at a time, and is written symbol by symbol. Per
symbol and minute these are the online step's functions with the same operands in the same order: a row
computed here is bit for bit the row a live scorer serves (``tests/features/test_fused.py``).

:mod:`features.fused.driver` does in Python what must happen between days: a session's corporate actions,
registering the day's new symbols (in the order the online step would meet them), each symbol's rows of the day.
"""

import math

import numpy as np
from numba import njit

from features.fused.clock import ticks
from features.fused.cross import market, rank_minute, rank_scratch, tod_angle
from features.fused.day import (
    day_atr_rv_obv,
    day_bands,
    day_cross,
    day_macd,
    day_prologue,
    day_roc_rsi,
    day_tail,
    day_vtod,
    day_vwap_micro,
)
from features.fused.ffd import ffd_series
from features.fused.ops import put

NAN = np.nan


def day_buffers(t_n: int, n: int, n_lead: int, nw: int, k: int, clock: np.ndarray) -> tuple:
    """Working memory of :func:`fold_day`, allocated by numpy (large arrays get transparent huge pages), and
    ``clock``, which each stage adds the cycle-counter ticks it spends to (:data:`features.fused.clock.OFFLINE_STAGES`
    order; kept across days by the caller). Each symbol's updates and rank keys of the day are stored by minute,
    as the rank reads them: a symbol's loop writes a column, and consecutive symbols fill the same cache lines."""
    upd_t, key_t = np.zeros((t_n, n), np.bool_), np.full((t_n, n), NAN)
    return (
        upd_t.T, key_t.T, np.full((t_n, n_lead, nw), NAN),
        np.full((t_n, n_lead), NAN), np.zeros((t_n, n_lead)), np.empty(t_n), np.empty(t_n), np.empty(k - 1 + t_n),
        np.empty((8, t_n)), np.empty(t_n), np.empty(n), np.empty(t_n, np.int64), np.empty(t_n),
        rank_scratch(n), upd_t, key_t,
        np.empty(t_n), np.empty(t_n),
        np.empty(t_n, np.int64), np.zeros(t_n, np.bool_), np.empty(t_n), np.empty(t_n, np.int64), clock,
    )  # fmt: skip


@njit(cache=True, error_model="numpy", _nrt=False)
def symbol_day(i, s_lead, stage1, stage3, tss, minutes, weekdays, session, since, span, tix, cols, halted, leader,
               lslot, sector, sps, mkt, eng, ks, p, out, counts, bufs):  # fmt: skip
    """Symbol ``i`` through the day: stage 1 (and FFD, and its leader record if ``s_lead >= 0``) and/or stage 3,
    writing the columns of its rows that those stages own."""
    upd_d, key_d, lret, lrv, lret1, lp_t, ret1_t, z, acc, vals = bufs[:10]
    sin_t, cos_t = bufs[16], bufs[17]
    r_t, ok_t, pc_t, nn_t, clock = bufs[18], bufs[19], bufs[20], bufs[21], bufs[22]
    c0 = ticks()
    fo = eng[4]
    t_n = tss.shape[0]
    c_ffd = p.col[11]
    nxt, end = span[0][i], span[1][i]  # the symbol's rows of the day, in time order (``tix``: their minutes)
    lo = nxt
    if stage1:
        # the prologue and bookkeeping through the day, then each kernel through the day (a kernel's state does
        # not depend on another's: the online step's order of the same calls gives the same numbers)
        day_prologue(i, session, t_n, lo, end, tix, tss, minutes, weekdays, sin_t, cos_t, halted, cols, sector, eng,
                     out, counts, r_t, ok_t, pc_t, nn_t, ret1_t, upd_d)  # fmt: skip
        c0 = lap(clock, 0, c0)
        day_roc_rsi(i, t_n, r_t, ok_t, pc_t, nn_t, cols[3], ks, p, fo, out)
        c0 = lap(clock, 1, c0)
        day_macd(i, t_n, r_t, ok_t, nn_t, cols[3], ks, p, fo, out)
        c0 = lap(clock, 2, c0)
        day_bands(i, t_n, r_t, ok_t, nn_t, cols[3], ks, p, fo, out)
        c0 = lap(clock, 3, c0)
        day_atr_rv_obv(i, t_n, r_t, ok_t, pc_t, nn_t, ret1_t, cols, ks, p, fo, out)
        c0 = lap(clock, 4, c0)
        day_vtod(i, t_n, r_t, ok_t, nn_t, minutes, cols[4], ks, p, fo, out)
        c0 = lap(clock, 5, c0)
        day_vwap_micro(i, session, t_n, r_t, ok_t, nn_t, cols, ks, p, fo, out)
        c0 = lap(clock, 6, c0)
        day_tail(i, s_lead, t_n, r_t, ok_t, ret1_t, cols[3], key_d, lp_t, ks, p, lret, lrv, lret1)
    c0 = lap(clock, 7, c0)
    if stage3:
        day_cross(i, s_lead, stage1, t_n, lo, end, tix, halted, leader, since, sps, mkt, lret, lret1, lslot, ret1_t,
                  counts, ks, p, fo, out)  # fmt: skip
    c0 = lap(clock, 8, c0)
    if stage1:  # FFD over the day, then the values each row serves (frozen by a halt like every feature)
        buf, seen, _last, ptr_a, _pre, _pre_ptr = ks[11]
        k = buf.shape[0] // 2
        ffd_series(buf, i, ptr_a[0], lp_t, t_n, p.ffd_wr, z, acc, vals)
        sn = seen[i]
        nxt = span[0][i]
        for t in range(t_n):
            sn += 0 if math.isnan(lp_t[t]) else 1
            r = nxt if nxt < end and tix[nxt] == t else -1
            nxt += 1 if r >= 0 else 0
            if r >= 0 and upd_d[i, t]:
                put(fo, c_ffd, i, vals[t] if sn >= k else NAN, counts[r], p.warmup)
            if r >= 0:
                out[r, c_ffd] = fo[c_ffd, i]
        seen[i] = sn
    lap(clock, 9, c0)


@njit(cache=True, inline="always")
def lap(clock, k, c0):
    """Add the ticks since ``c0`` to stage ``k``; the counter now."""
    c1 = ticks()
    clock[k] += c1 - c0
    return c1


@njit(cache=True, error_model="numpy", _nrt=False)
def fold_day(tss, minutes, weekdays, session, vix, use_vix, since, span, tix, cols, halted, leader, spy, lslot,
             leaders, sector, eng, ks, p, out, counts, bufs):  # fmt: skip
    """One day: registry row ``i``'s bars are rows ``span[0][i]:span[1][i]``, in time order, ``tix[r]`` the
    minute (index into ``tss``) of row ``r``; feature rows into ``out`` and update counts into ``counts`` at the
    bars' rows. ``bufs`` is :func:`day_buffers`."""
    upd_d, key_d, lrv = bufs[0], bufs[1], bufs[3]
    upd_t, key_t = bufs[14], bufs[15]
    t_n, n = tss.shape[0], span[0].shape[0]
    fo = eng[4]
    rank_col = p.col[12] + 2 * p.x_windows.shape[0] + 2
    rank0, sps, mkt, rank_s = bufs[10], bufs[11], bufs[12], bufs[13]
    for i in range(n):
        rank0[i] = fo[rank_col, i]  # what each symbol served before the day (stage 3 overwrites it meanwhile)
    a = (tss, minutes, weekdays, session, since, span, tix, cols, halted, leader, lslot, sector, sps, mkt, eng, ks, p,
         out, counts, bufs)  # fmt: skip
    sin_t, cos_t = bufs[16], bufs[17]
    for t in range(t_n):
        sin_t[t], cos_t[t] = tod_angle(minutes[t])
    for s in range(leaders.shape[0]):  # the leaders first: everybody's cross-asset features read them
        symbol_day(leaders[s], s, True, False, *a)
    for t in range(t_n):
        sps[t], mkt[t] = market(t, spy, since, lslot, lrv[t], vix[t], use_vix)
    for s in range(leaders.shape[0]):
        symbol_day(leaders[s], s, False, True, *a)
    for i in range(n):
        if lslot[i] < 0:
            symbol_day(i, -1, True, True, *a)
    ptr_a = ks[11][3]
    ptr_a[0] = (ptr_a[0] + t_n) % (ks[11][0].shape[0] // 2)
    ks[11][5][0] = -1  # the rings moved: partial sums prepared before are stale
    c0 = ticks()
    for t in range(t_n):
        rank_minute(upd_t[t], key_t[t], rank_s)
    warm = p.warmup[rank_col]
    for i in range(n):
        last = rank0[i]
        nxt, end = span[0][i], span[1][i]
        for t in range(t_n):
            r = nxt if nxt < end and tix[nxt] == t else -1
            nxt += 1 if r >= 0 else 0
            if r >= 0 and upd_d[i, t]:
                last = key_d[i, t] if counts[r] >= warm else NAN
            if r >= 0:
                out[r, rank_col] = last
        fo[rank_col, i] = last
    lap(bufs[22], 10, c0)

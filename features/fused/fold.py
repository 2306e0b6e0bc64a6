"""The compiled batch fold: the online step's stages with the loops turned inside out.

Stage 1 (the per-symbol kernels) runs block by block: a block of registry rows goes through the whole day
minute by minute while its state stays in cache, and FFD is one convolution over the block's day. Stage 3 (what
reads other symbols) then runs minute by minute over the whole cross-section. Each symbol and minute goes through
the same functions as in :func:`features.fused.core.minute`, with the same operands in the same order, so a row
computed here is bit for bit the row a live scorer serves (``tests/features/test_fused.py``).

:mod:`features.fused.driver` does in Python what must happen between days: a session's corporate actions,
registering the day's new symbols (in the order the online step would meet them), the day's (minute, symbol) ->
row map.
"""

import math

import numpy as np
from numba import njit

from features.fused.core import NIN, SCRATCH, ffd_finish, ffd_taps, lanes
from features.fused.cross import cross_lanes, market, rank_minute

NAN = np.nan
BLOCK = 256  # registry rows per block: stage 1's state for a block (~450 KB) stays in the 512 KB L2 cache
FFD_CHUNK = 2048  # (minute, lane) sums per pass over the FFD taps: 16 KB, in L1


@njit(cache=True, error_model="numpy")
def ffd_block(lo, nl, ptr0, lp, upd, rowmap, nn0, eng, ffd_s, p, out, z, acc, seen_b):
    """Stage 2 for registry rows ``lo .. lo + nl`` over a day of ``T`` minutes whose first push goes to ring slot
    ``ptr0``: ``z`` is each lane's log-price series (the ring's older pushes, then the day's), and every minute's
    value is the same age-ordered sum the online step computes (:func:`features.fused.core.ffd_taps`)."""
    buf, seen, _last, _ptr = ffd_s
    fo = eng[4]
    k = buf.shape[0]
    t_n = lp.shape[0]
    for j in range(k - 1):  # z row j: the push made k - 1 - j minutes before the day's first
        s = (ptr0 - (k - 1 - j)) % k
        src = buf[s, lo : lo + nl]
        for l in range(nl):
            z[j * nl + l] = src[l]
    for t in range(t_n):
        src = lp[t, lo : lo + nl]
        for l in range(nl):
            v = src[l]
            z[(k - 1 + t) * nl + l] = 0.0 if math.isnan(v) else v
    m = t_n * nl
    for e0 in range(0, m, FFD_CHUNK):  # a chunk of (minute, lane) values at a time, its sums in L1
        e1 = min(e0 + FFD_CHUNK, m)
        ffd_taps(acc[e0:e1], z, (k - 1) * nl + e0, nl, p.ffd_w)
    for l in range(nl):
        seen_b[l] = seen[lo + l]
    nn = nn0
    for t in range(t_n):
        rm = rowmap[t]
        lpt, ut = lp[t], upd[t]
        for l in range(nl):
            i = lo + l
            seen_b[l] += 0 if math.isnan(lpt[i]) else 1
            nn[l] += 1 if ut[i] else 0
            ffd_finish(i, acc[t * nl + l] if seen_b[l] >= k else NAN, ut[i], nn[l], rm[i], p, fo, out)
    for l in range(nl):
        seen[lo + l] = seen_b[l]
    for t in range(max(0, t_n - k), t_n):
        s = (ptr0 + t) % k
        dst = buf[s, lo : lo + nl]
        for l in range(nl):
            dst[l] = z[(k - 1 + t) * nl + l]


@njit(cache=True, error_model="numpy")
def fold_day(tss, minutes, weekdays, session, vix, use_vix, since, rowmap, cols, halted, leader, spy, lslot,
             sector, eng, ks, p, out, counts, block):  # fmt: skip
    """One day (``rowmap[t, i]``: the bar row of registry row ``i`` at minute ``t``, -1 if none) through the
    three stages; feature rows into ``out`` and update counts into ``counts`` at the bars' rows."""
    t_n, n = rowmap.shape
    nupd0, lut0 = eng[3].copy(), eng[2].copy()
    nw = p.x_windows.shape[0]
    n_lead = int(lslot.max()) + 1 if n else 0
    r_ret1, r_upd = np.zeros((t_n, n)), np.zeros((t_n, n), np.bool_)
    r_rank, r_lp = np.full((t_n, n), NAN), np.full((t_n, n), NAN)
    r_lret, r_lrv = np.full((t_n, n_lead, nw), NAN), np.full((t_n, n_lead), NAN)
    xin = np.full((NIN, block), NAN)
    pres, halt = np.zeros(block, np.bool_), np.zeros(block, np.bool_)
    sc, nn = np.empty((SCRATCH, block)), np.empty(block, np.int64)
    ffd_s = ks[11]
    k = ffd_s[0].shape[0]
    ptr0 = ffd_s[3][0]
    z, acc, seen_b = np.empty((k - 1 + t_n) * block), np.empty(t_n * block), np.empty(block, np.int64)
    for lo in range(0, n, block):
        nl = min(block, n - lo)
        nn0 = eng[3][lo : lo + nl].copy()
        for t in range(t_n):
            rm = rowmap[t]
            for l in range(nl):
                r = rm[lo + l]
                if r >= 0:
                    for c in range(NIN):
                        xin[c, l] = cols[c][r]
                pres[l] = r >= 0
                halt[l] = r >= 0 and halted[r]
            rec = (r_ret1[t], r_upd[t], r_rank[t], r_lp[t], r_lret[t], r_lrv[t])
            lanes(lo, nl, tss[t], minutes[t], session, xin, pres, halt, eng, ks, p, lslot, rec, rm, out, sc, nn)
        ffd_block(lo, nl, ptr0, r_lp, r_upd, rowmap, nn0, eng, ffd_s, p, out, z, acc, seen_b)
    ffd_s[3][0] = (ptr0 + t_n) % k
    sps, mkt = np.empty(t_n, np.int64), np.empty(t_n)
    for t in range(t_n):
        rank_minute(r_upd[t], r_rank[t])
        sps[t], mkt[t] = market(t, spy, since, lslot, r_lrv[t], vix[t], use_vix)
    for lo in range(0, n, block):
        nl = min(block, n - lo)
        for t in range(t_n):
            rec = (r_ret1[t], r_upd[t], r_rank[t], r_lp[t], r_lret[t], r_lrv[t])
            cross_lanes(lo, nl, tss[t], minutes[t], weekdays[t], mkt[t], sps[t], rec, leader, lslot, sector, since,
                        t, nupd0, lut0, True, ks[12], eng[4], p, rowmap[t], out, counts)  # fmt: skip

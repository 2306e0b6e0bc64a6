"""Stage 1 of the batch fold for one symbol's day: each kernel of :mod:`features.fused.symbol` through the day's
minutes, its scalar state and last outputs held in registers from the first minute to the last (loaded before,
stored after).

Each loop calls the kernel's ``*_step`` function, the one the online step calls between a load and a store of the
same state, with the same operands in the same order, and gates its outputs by the same warm-up: the same bits.
Held in registers, the state is off the memory round trip that a store and the next minute's load put on every
recurrence, and the output columns and warm-ups are read once, not after every store (MACD's stage went from 15
to 6 ns a row). Rings and tables stay in memory. ``r_t[t]`` is the symbol's row at minute ``t`` (-1: no bar),
``ok_t[t]`` whether it updates (a bar, not halted); every row gets the kernel's last outputs (a halt freezes
them).
"""

import numpy as np
from numba import njit

from features.fused.core import leader_record
from features.fused.cross import context, cross_step, leader_of, leader_windows
from features.fused.ops import gate
from features.fused.symbol import (
    atr_step,
    bands_step,
    k_rv,
    macd_step,
    micro_step,
    obv_step,
    prologue_step,
    roc_step,
    rsi_step,
    tail_step,
    vtod_step,
    vwap_step,
)
from features.fused.vmath import vlog

NAN = np.nan


@njit(cache=True, inline="always")
def emit(out, r, fo, i, q0, q1):
    """Symbol ``i``'s outputs ``q0:q1`` as row ``r`` of ``out`` (column-major: each column's rows of a symbol's
    day are one contiguous run, written in order)."""
    for q in range(q0, q1):
        out[r, q] = fo[q, i]


@njit(cache=True, inline="always")
def day_roc_rsi(i, t_n, r_t, ok_t, pc_t, nn_t, close, ks, p, fo, out):
    """ROC (its outputs through ``fo``: as many as it has windows) and RSI through the day."""
    cum, hist, hist_n = ks[0]
    gain, loss, rn = ks[1]
    q0, q1 = p.col[0], p.col[1]
    w1 = p.warmup[q1]
    cs, cnt, g, lo_, k, o1 = cum[i], hist_n[i], gain[i], loss[i], rn[i], fo[q1, i]
    for t in range(t_n):
        r = r_t[t]
        if r >= 0:
            if ok_t[t]:
                c, pc, nn = close[r], pc_t[t], nn_t[t]
                cs, cnt = roc_step(i, cs, cnt, c, pc, hist, nn, q0, p, fo)
                g, lo_, k, v = rsi_step(g, lo_, k, c, pc, p)
                o1 = gate(v, nn, w1)
            emit(out, r, fo, i, q0, q1)
            out[r, q1] = o1
    cum[i], hist_n[i], gain[i], loss[i], rn[i], fo[q1, i] = cs, cnt, g, lo_, k, o1


@njit(cache=True, inline="always")
def day_macd(i, t_n, r_t, ok_t, nn_t, close, ks, p, fo, out):
    """MACD through the day."""
    fast, slow, sig = ks[2]
    q = p.col[2]
    w0, w1, w2 = p.warmup[q], p.warmup[q + 1], p.warmup[q + 2]
    fa, sl, sg, o0, o1, o2 = fast[i], slow[i], sig[i], fo[q, i], fo[q + 1, i], fo[q + 2, i]
    for t in range(t_n):
        r = r_t[t]
        if r >= 0:
            if ok_t[t]:
                nn = nn_t[t]
                fa, sl, sg, line = macd_step(fa, sl, sg, close[r], p)
                o0, o1, o2 = gate(line, nn, w0), gate(sg, nn, w1), gate(line - sg, nn, w2)
            out[r, q], out[r, q + 1], out[r, q + 2] = o0, o1, o2
    fast[i], slow[i], sig[i], fo[q, i], fo[q + 1, i], fo[q + 2, i] = fa, sl, sg, o0, o1, o2


@njit(cache=True, inline="always")
def day_atr_rv_obv(i, t_n, r_t, ok_t, pc_t, nn_t, ret1_t, cols, ks, p, fo, out):
    """ATR, realized volatility (its outputs through ``fo``: one per half-life) and OBV through the day."""
    at, an = ks[5]
    ob, v2, on, oh, oh_n = ks[7]
    qa, qr, qo = p.col[5], p.col[6], p.col[7]
    wa, wo = p.warmup[qa], p.warmup[qo]
    a, ak, o, sq, ok_, ocnt, oa, oo = at[i], an[i], ob[i], v2[i], on[i], oh_n[i], fo[qa, i], fo[qo, i]
    for t in range(t_n):
        r = r_t[t]
        if r >= 0:
            if ok_t[t]:
                nn, r1 = nn_t[t], ret1_t[t]
                a, ak, va = atr_step(a, ak, cols[1][r], cols[2][r], cols[3][r], pc_t[t], p)
                k_rv(i, r1, nn, ks, p, fo)
                o, sq, ok_, ocnt, vo = obv_step(i, o, sq, ok_, ocnt, r1, cols[4][r], oh, p)
                oa, oo = gate(va, nn, wa), gate(vo, nn, wo)
            out[r, qa] = oa
            emit(out, r, fo, i, qr, qo)
            out[r, qo] = oo
    at[i], an[i], ob[i], v2[i], on[i], oh_n[i], fo[qa, i], fo[qo, i] = a, ak, o, sq, ok_, ocnt, oa, oo


@njit(cache=True, inline="always")
def day_vtod(i, t_n, r_t, ok_t, nn_t, minutes, vol, ks, p, fo, out):
    """Volume vs the same minute of past sessions through the day."""
    tod, gm, gs, gc = ks[8]
    q = p.col[8]
    w = p.warmup[q]
    m, s, c, o = gm[i], gs[i], gc[i], fo[q, i]
    for t in range(t_n):
        r = r_t[t]
        if r >= 0:
            if ok_t[t]:
                m, s, c, z = vtod_step(i, m, s, c, minutes[t], vol[r], tod, p)
                o = gate(z, nn_t[t], w)
            out[r, q] = o
    gm[i], gs[i], gc[i], fo[q, i] = m, s, c, o


@njit(cache=True, inline="always")
def day_vwap_micro(i, session, t_n, r_t, ok_t, nn_t, cols, ks, p, fo, out):
    """The VWAPs, the spread and the order-book imbalance through the day."""
    spv, sv, sess = ks[9][0], ks[9][1], ks[9][2]
    spread, spread_s, obi, obi_s = ks[10]
    qv, qm = p.col[9], p.col[10]
    wv0, wv1 = p.warmup[qv], p.warmup[qv + 1]
    wm0, wm1, wm2, wm3 = p.warmup[qm], p.warmup[qm + 1], p.warmup[qm + 2], p.warmup[qm + 3]
    sa, sb, se, ov0, ov1 = spv[i], sv[i], sess[i], fo[qv, i], fo[qv + 1, i]
    sp, sps, oi, ois = spread[i], spread_s[i], obi[i], obi_s[i]
    om0, om1, om2, om3 = fo[qm, i], fo[qm + 1, i], fo[qm + 2, i], fo[qm + 3, i]
    for t in range(t_n):
        r = r_t[t]
        if r >= 0:
            if ok_t[t]:
                nn = nn_t[t]
                sa, sb, se, v0, v1 = vwap_step(i, sa, sb, se, session, cols[3][r], cols[5][r], cols[4][r], ks)
                sp, sps, oi, ois = micro_step(sp, sps, oi, ois, cols[6][r], cols[7][r], cols[8][r], cols[9][r], p)
                ov0, ov1 = gate(v0, nn, wv0), gate(v1, nn, wv1)
                om0, om1, om2, om3 = gate(sp, nn, wm0), gate(sps, nn, wm1), gate(oi, nn, wm2), gate(ois, nn, wm3)
            out[r, qv], out[r, qv + 1] = ov0, ov1
            out[r, qm], out[r, qm + 1], out[r, qm + 2], out[r, qm + 3] = om0, om1, om2, om3
    spv[i], sv[i], sess[i], fo[qv, i], fo[qv + 1, i] = sa, sb, se, ov0, ov1
    spread[i], spread_s[i], obi[i], obi_s[i] = sp, sps, oi, ois
    fo[qm, i], fo[qm + 1, i], fo[qm + 2, i], fo[qm + 3, i] = om0, om1, om2, om3


@njit(cache=True, inline="always")
def day_cross(i, s_lead, stage1, t_n, lo, end, tix, halted, leader, since, sps, mkt, lret, lret1, lslot, ret1_t,
              counts, ks, p, fo, out):  # fmt: skip
    """Stage 3 (what reads the leaders) through the day; the rank column gets NaN (the fold ranks last)."""
    x_cov, x_var, x_n = ks[12][1], ks[12][2], ks[12][4]
    nw = p.x_windows.shape[0]
    xc = p.col[12]
    qb = xc + 2 * nw
    wb, wr, wk, wm = p.warmup[qb], p.warmup[qb + 1], p.warmup[qb + 2], p.warmup[qb + 3]
    cov, var, n = x_cov[i], x_var[i], x_n[i]
    ob, orr, ok_, om = fo[qb, i], fo[qb + 1, i], fo[qb + 2, i], fo[qb + 3, i]
    nxt = lo
    for t in range(t_n):
        r = nxt if nxt < end and tix[nxt] == t else -1
        nxt += 1 if r >= 0 else 0
        if r >= 0:
            if not halted[r]:
                sp = sps[t]
                lead = leader_of(i, t, leader, since, sp)
                lr = lret1[t, lslot[lead]] if lead >= 0 else NAN
                r1 = ret1_t[t] if stage1 or s_lead < 0 else lret1[t, s_lead]
                nn = counts[r]
                leader_windows(i, lead, sp, lret[t], lslot, nn, xc, nw, p.warmup, fo)
                cov, var, n, beta, resid = cross_step(i, cov, var, n, lead, r1, lr, p)
                ob, orr, ok_, om = gate(beta, nn, wb), gate(resid, nn, wr), gate(NAN, nn, wk), gate(mkt[t], nn, wm)
            emit(out, r, fo, i, xc, qb)
            out[r, qb], out[r, qb + 1], out[r, qb + 2], out[r, qb + 3] = ob, orr, ok_, om
    x_cov[i], x_var[i], x_n[i] = cov, var, n
    fo[qb, i], fo[qb + 1, i], fo[qb + 2, i], fo[qb + 3, i] = ob, orr, ok_, om


@njit(cache=True, inline="always")
def day_bands(i, t_n, r_t, ok_t, nn_t, close, ks, p, fo, out):
    """Price vs SMA and EMA, and the Bollinger bands, through the day."""
    bbuf, bbuf_n, sums = ks[4]
    em, mbuf, mbuf_n = ks[3]
    q, u = p.col[3], p.col[4]
    w0, w1, w2, w3 = p.warmup[q], p.warmup[q + 1], p.warmup[u], p.warmup[u + 1]
    bk, e, mk = bbuf_n[i], em[i], mbuf_n[i]
    sv = (sums[0, i], sums[1, i], sums[2, i], sums[3, i], sums[4, i], sums[5, i])
    o0, o1, o2, o3 = fo[q, i], fo[q + 1, i], fo[u, i], fo[u + 1, i]
    for t in range(t_n):
        r = r_t[t]
        if r >= 0:
            if ok_t[t]:
                nn = nn_t[t]
                bk, sv, e, mk, v0, v1, v2, v3 = bands_step(i, bbuf, bk, sv, e, mbuf, mk, close[r], p)
                o0, o1, o2, o3 = gate(v0, nn, w0), gate(v1, nn, w1), gate(v2, nn, w2), gate(v3, nn, w3)
            out[r, q], out[r, q + 1], out[r, u], out[r, u + 1] = o0, o1, o2, o3
    bbuf_n[i], em[i], mbuf_n[i] = bk, e, mk
    sums[0, i], sums[1, i], sums[2, i], sums[3, i], sums[4, i], sums[5, i] = sv
    fo[q, i], fo[q + 1, i], fo[u, i], fo[u + 1, i] = o0, o1, o2, o3


@njit(cache=True, inline="always")
def day_prologue(i, session, t_n, lo, end, tix, tss, minutes, weekdays, sin_t, cos_t, halted, cols, sector, eng,
                 out, counts, r_t, ok_t, pc_t, nn_t, ret1_t, upd_d):  # fmt: skip
    """The prologue and bookkeeping through the day (each minute's row, whether it updates, its previous close,
    update count and 1-bar return, for the kernels' loops), and each row's context columns."""
    last_close, last_session, last_upd_ts, nupd, fo = eng
    k_feat = fo.shape[0]
    lc, ls, lu, nu = last_close[i], last_session[i], last_upd_ts[i], nupd[i]
    nxt = lo
    for t in range(t_n):
        r = nxt if nxt < end and tix[nxt] == t else -1
        nxt += 1 if r >= 0 else 0
        ok = r >= 0 and not halted[r]
        r_t[t], ok_t[t], upd_d[i, t] = r, ok, ok
        r1 = 0.0
        if ok:
            c = cols[3][r]
            pc, r1, nn = prologue_step(session, cols[0][r], c, lc, ls, nu)
            pc_t[t], nn_t[t] = pc, nn
            lc, ls, lu, nu = c, session, tss[t], nn
        ret1_t[t] = r1
        if r >= 0:
            context(out, r, k_feat, minutes[t], sin_t[t], cos_t[t], weekdays[t], not ok, (tss[t] - lu) / 60e9, i,
                    sector[i])  # fmt: skip
            counts[r] = nu
    last_close[i], last_session[i], last_upd_ts[i], nupd[i] = lc, ls, lu, nu


@njit(cache=True, inline="always")
def day_tail(i, s_lead, t_n, r_t, ok_t, ret1_t, close, key_d, lp_t, ks, p, lret, lrv, lret1):
    """The log price (FFD's input) and the rank key through the day; a leader (slot ``s_lead >= 0``) also records
    its values of every minute for the symbols that follow it (:func:`features.fused.core.leader_record`, which
    reads the state from memory: it is stored first)."""
    x_csum, _cov, _var, x_rv, _n, x_hist, x_hist_n = ks[12]
    lpa = ks[11][2]
    xc, cnt, rv, lp = x_csum[i], x_hist_n[i], x_rv[i], lpa[i]
    for t in range(t_n):
        rk = NAN
        ok = ok_t[t]
        if ok:
            lp = vlog(close[r_t[t]])
            xc, cnt, rv, rk = tail_step(i, xc, cnt, rv, ret1_t[t], x_hist, p)
        key_d[i, t] = rk
        lp_t[t] = lp
        if s_lead >= 0:
            x_csum[i], x_hist_n[i], x_rv[i] = xc, cnt, rv
            leader_record(s_lead, i, ok, ret1_t[t], ks, p, lret[t], lrv[t], lret1[t])
    x_csum[i], x_hist_n[i], x_rv[i], lpa[i] = xc, cnt, rv, lp

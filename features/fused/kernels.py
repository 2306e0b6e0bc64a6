"""The price kernels of :mod:`features.kernels` compiled over a block of symbols ("lanes") at one minute.

Lane ``l`` is registry row ``lo + l``. Every function mirrors the numpy kernel of the same name (same state
keys, same formulas, same order of operations per symbol) and changes only updated lanes (``u[l]``): it commits
their state and writes their outputs into ``fo`` (the engine's last outputs, ``(features, n)``), NaN while a
lane's update count ``nn[l]`` is below the feature's warm-up. Per lane the floating-point operations do not depend
on how many lanes a call covers, so the online step (every symbol, one minute) and the batch fold (a block of
symbols, minute after minute) produce the same bits. ``S`` is scratch, ``(rows, >= nl)``.
The numpy kernels stay the readable reference: ``tests/features/test_fused.py`` holds the two to 1e-9.
"""

import math

import numpy as np
from numba import njit

from features.fused.ops import ago2, ema, emit, push, push2, ring_sum

NAN = np.nan


@njit(cache=True, error_model="numpy")
def roc(lo, nl, u, nn, c, pc, s, windows, c0, fo, warm, S):
    """Rate of change over each window from the running product of gross returns (a power-of-two ring of it)."""
    cum, hist, hist_n = s
    cum_b = cum[lo : lo + nl]
    cs, back, v = S[0], S[1], S[2]
    for l in range(nl):
        x = cum_b[l] * (c[l] / pc[l])
        cs[l] = x
        cum_b[l] = x if u[l] else cum_b[l]
    push2(hist, hist_n, lo, nl, u, cs)
    cnt_b = hist_n[lo : lo + nl]
    for q in range(windows.shape[0]):
        w = windows[q]
        for l in range(nl):
            back[l] = ago2(hist, hist_n, lo + l, w) if u[l] else 1.0
        for l in range(nl):
            cnt = cnt_b[l]
            r = cs[l] / (1.0 if cnt == w else back[l]) - 1.0
            v[l] = r if cnt > 1 else NAN
        emit(fo, c0 + q, lo, nl, u, nn, warm, v)


@njit(cache=True, error_model="numpy")
def rsi_macd(lo, nl, u, nn, c, pc, rsi_s, macd_s, p, fo, warm, S):
    """RSI with Wilder smoothing; MACD line, signal and histogram normalized by the close."""
    gain, loss, rn = rsi_s[0][lo : lo + nl], rsi_s[1][lo : lo + nl], rsi_s[2][lo : lo + nl]
    fast, slow, sig = macd_s[0][lo : lo + nl], macd_s[1][lo : lo + nl], macd_s[2][lo : lo + nl]
    period = p.rsi_p
    a_fast, a_slow, a_sig = 2.0 / (p.macd_fast + 1), 2.0 / (p.macd_slow + 1), 2.0 / (p.macd_signal + 1)
    rsi, line, sg_out = S[0], S[1], S[2]
    for l in range(nl):
        ok = u[l]
        d = c[l] - pc[l]
        k = rn[l] + 1
        wt = 1.0 / k if k <= period else 1.0 / period
        g = gain[l] + wt * (max(d, 0.0) - gain[l])
        lo_ = loss[l] + wt * (max(-d, 0.0) - loss[l])
        gain[l] = g if ok else gain[l]
        loss[l] = lo_ if ok else loss[l]
        rn[l] = k if ok else rn[l]
        r = (50.0 if g == 0 else 100.0) if lo_ == 0 else 100.0 - 100.0 / (1.0 + g / lo_)
        rsi[l] = r if k > 1 else NAN
        close = c[l]
        fa = ema(fast[l], close, a_fast)
        sl = ema(slow[l], close, a_slow)
        ln = (fa - sl) / close
        sg = ema(sig[l], ln, a_sig)
        fast[l] = fa if ok else fast[l]
        slow[l] = sl if ok else slow[l]
        sig[l] = sg if ok else sig[l]
        line[l] = ln
        sg_out[l] = sg
    emit(fo, p.col[1], lo, nl, u, nn, warm, rsi)
    emit(fo, p.col[2], lo, nl, u, nn, warm, line)
    emit(fo, p.col[2] + 1, lo, nl, u, nn, warm, sg_out)
    for l in range(nl):
        line[l] = line[l] - sg_out[l]
    emit(fo, p.col[2] + 2, lo, nl, u, nn, warm, line)


@njit(cache=True, error_model="numpy")
def averages(lo, nl, u, nn, c, ma_s, bb_s, p, fo, warm, S):
    """Price vs SMA and EMA; Bollinger %b and width (population standard deviation, as TA-Lib)."""
    em, mbuf, mbuf_n = ma_s
    bbuf, bbuf_n = bb_s
    push(mbuf, mbuf_n, lo, nl, u, c)
    push(bbuf, bbuf_n, lo, nl, u, c)
    tot, e_out, sma_dev = S[0], S[1], S[2]
    ring_sum(mbuf, lo, nl, tot)
    em_b, cnt_b = em[lo : lo + nl], mbuf_n[lo : lo + nl]
    w_ma, a_ma = p.ma_w, 2.0 / (p.ma_w + 1)
    for l in range(nl):
        close = c[l]
        sma_dev[l] = close / (tot[l] / max(min(cnt_b[l], w_ma), 1)) - 1.0
        e = ema(em_b[l], close, a_ma)
        em_b[l] = e if u[l] else em_b[l]
        e_out[l] = close / e - 1.0
    emit(fo, p.col[3], lo, nl, u, nn, warm, sma_dev)
    emit(fo, p.col[3] + 1, lo, nl, u, nn, warm, e_out)
    w = bbuf.shape[0]
    ss, mid = S[1], S[2]
    ring_sum(bbuf, lo, nl, tot)
    for l in range(nl):
        mid[l] = tot[l] / w
        ss[l] = 0.0
    for j in range(w):
        row = bbuf[j, lo : lo + nl]
        for l in range(nl):
            dv = row[l] - mid[l]
            ss[l] += dv * dv
    pctb, width = S[0], S[3]
    for l in range(nl):
        band = p.bb_k * math.sqrt(ss[l] / w)
        pctb[l] = (c[l] - (mid[l] - band)) / (2 * band) if band > 0 else 0.5
        width[l] = 2 * band / mid[l]
    emit(fo, p.col[4], lo, nl, u, nn, warm, pctb)
    emit(fo, p.col[4] + 1, lo, nl, u, nn, warm, width)


@njit(cache=True, error_model="numpy")
def ranges(lo, nl, u, nn, c, hi_, lw, pc, r1, atr_s, rv_s, p, fo, warm, S):
    """ATR (Wilder) over the close; EWM realized volatility for each half-life."""
    at, an = atr_s[0][lo : lo + nl], atr_s[1][lo : lo + nl]
    val = S[0]
    for l in range(nl):
        h, low, prev = hi_[l], lw[l], pc[l]
        tr = max(h - low, max(abs(h - prev), abs(low - prev)))
        k = an[l] + 1
        wt = 1.0 / k if k <= p.atr_p else 1.0 / p.atr_p
        v = at[l] + wt * (tr - at[l])
        at[l] = v if u[l] else at[l]
        an[l] = k if u[l] else an[l]
        val[l] = v / c[l]
    emit(fo, p.col[5], lo, nl, u, nn, warm, val)
    for q in range(len(rv_s)):
        st = rv_s[q][lo : lo + nl]
        a = p.rv_alpha[q]
        for l in range(nl):
            v = ema(st[l], r1[l] * r1[l], a)
            st[l] = v if u[l] else st[l]
            val[l] = math.sqrt(v)
        emit(fo, p.col[6] + q, lo, nl, u, nn, warm, val)

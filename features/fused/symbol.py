"""Stage 1 of the engine minute: every per-symbol kernel of :mod:`features.kernels`, compiled, as one function
per kernel over ONE symbol's fresh bar (:func:`prologue` first: previous close, 1-bar log return, update count;
:func:`k_tail` last: what the later stages read, and the bookkeeping).

Each kernel's arithmetic is a ``*_step`` function on values: the state as numbers in, the new state and the
outputs out (rings and tables stay in memory). These are the single definition both paths run. The online step
(:func:`features.fused.core.minute`) calls each kernel's ``k_*`` function — load the state, step, store, gate the
outputs by their warm-ups — a kernel at a time over the minute's symbols; the batch fold
(:mod:`features.fused.day`) calls the step functions over a symbol's day with the state held in registers. A
kernel reads and writes only its own state, so each state sees the same calls with the same operands in the same
order either way: the same bits. Each function mirrors
the numpy kernel of the same name (same state keys and formulas); the numpy kernels stay the readable reference
(``tests/features/test_fused.py`` holds the two to 1e-9 and the two paths to each other bit for bit).

State arrays are ``(..., n)`` with the symbol last; ``fo`` is the engine's last outputs ``(features, n)``: an
updated symbol's outputs are written there (NaN until its update count reaches each feature's warm-up), a
symbol that did not update keeps its last values (a halt freezes them).
"""

import math

import numpy as np
from numba import njit

from features.fused.ops import ema, put, ring_sum
from features.fused.rolling import bands_push, push_sums
from features.fused.vmath import vlog
from features.kernels.volatility import FLAT_BAND

NAN = np.nan


@njit(cache=True, inline="always")
def prologue(i, session, o, c, eng):
    """A fresh bar's previous close (its open after a session change or as its first bar), 1-bar log return and
    update count."""
    last_close, last_session, _ts, nupd, _fo = eng
    return prologue_step(session, o, c, last_close[i], last_session[i], nupd[i])


@njit(cache=True, inline="always")
def prologue_step(session, o, c, prev, prev_session, n):
    """:func:`prologue` on the last close, its session and the update count as values."""
    pc = o if (prev_session != session or math.isnan(prev)) else prev
    return pc, vlog(c / pc), n + 1


@njit(cache=True, inline="always")
def k_roc(i, c, pc, nn, ks, p, fo):
    """ROC: the running product of gross returns over a power-of-two ring of it."""
    cum, hist, hist_n = ks[0]
    cum[i], hist_n[i] = roc_step(i, cum[i], hist_n[i], c, pc, hist, nn, p.col[0], p, fo)


@njit(cache=True, inline="always")
def roc_step(i, cs, cnt, c, pc, hist, nn, q0, p, fo):
    """:func:`k_roc` on the product ``cs`` and push count ``cnt`` (its ring in memory; outputs from column
    ``q0``): their new values."""
    cs = cs * (c / pc)
    hist[cnt & (hist.shape[0] - 1), i] = cs
    cnt += 1
    for q in range(p.roc_w.shape[0]):
        w = p.roc_w[q]
        back = 1.0 if cnt == w else (hist[(cnt - 1 - w) & (hist.shape[0] - 1), i] if cnt > w else NAN)
        put(fo, q0 + q, i, cs / back - 1.0 if cnt > 1 else NAN, nn, p.warmup)
    return cs, cnt


@njit(cache=True, inline="always")
def k_rsi(i, c, pc, nn, ks, p, fo):
    """RSI (Wilder: a plain mean over the first ``period`` changes)."""
    gain, loss, rn = ks[1]
    gain[i], loss[i], rn[i], r = rsi_step(gain[i], loss[i], rn[i], c, pc, p)
    put(fo, p.col[1], i, r, nn, p.warmup)


@njit(cache=True, inline="always")
def rsi_step(g, lo_, k, c, pc, p):
    """:func:`k_rsi` on its state as values: the new ones and the RSI (the ``*_step`` functions leave the
    warm-up to their callers)."""
    d = c - pc
    k = k + 1
    wt = 1.0 / k if k <= p.rsi_p else 1.0 / p.rsi_p
    g = g + wt * (max(d, 0.0) - g)
    lo_ = lo_ + wt * (max(-d, 0.0) - lo_)
    r = (50.0 if g == 0 else 100.0) if lo_ == 0 else 100.0 - 100.0 / (1.0 + g / lo_)
    return g, lo_, k, r if k > 1 else NAN


@njit(cache=True, inline="always")
def k_macd(i, c, nn, ks, p, fo):
    """MACD normalized by the close."""
    fast, slow, sig = ks[2]
    fa, sl, sg, line = macd_step(fast[i], slow[i], sig[i], c, p)
    fast[i], slow[i], sig[i] = fa, sl, sg
    put(fo, p.col[2], i, line, nn, p.warmup)
    put(fo, p.col[2] + 1, i, sg, nn, p.warmup)
    put(fo, p.col[2] + 2, i, line - sg, nn, p.warmup)


@njit(cache=True, inline="always")
def macd_step(fa, sl, sg, c, p):
    """:func:`k_macd` on its state as values: the new ones and the line (the outputs: line, signal, their
    difference)."""
    fa = ema(fa, c, 2.0 / (p.macd_fast + 1))
    sl = ema(sl, c, 2.0 / (p.macd_slow + 1))
    line = (fa - sl) / c
    sg = ema(sg, line, 2.0 / (p.macd_signal + 1))
    return fa, sl, sg, line


@njit(cache=True, inline="always")
def k_bands(i, c, nn, ks, p, fo):
    """Bollinger (population standard deviation, as TA-Lib), then price vs SMA / EMA (the same ring when the
    windows agree: identical contents, so its sum is the same number)."""
    bbuf, bbuf_n, sums = ks[4]
    em, mbuf, mbuf_n = ks[3]
    sv = (sums[0, i], sums[1, i], sums[2, i], sums[3, i], sums[4, i], sums[5, i])
    bk, sv, e, mk, v0, v1, v2, v3 = bands_step(i, bbuf, bbuf_n[i], sv, em[i], mbuf, mbuf_n[i], c, p)
    bbuf_n[i], em[i], mbuf_n[i] = bk, e, mk
    sums[0, i], sums[1, i], sums[2, i], sums[3, i], sums[4, i], sums[5, i] = sv
    q, r = p.col[3], p.col[4]
    put(fo, q, i, v0, nn, p.warmup)
    put(fo, q + 1, i, v1, nn, p.warmup)
    put(fo, r, i, v2, nn, p.warmup)
    put(fo, r + 1, i, v3, nn, p.warmup)


@njit(cache=True, inline="always")
def bands_step(i, bbuf, bk, sv, em, mbuf, mk, c, p):
    """:func:`k_bands` on its push counts, running sums (``sv``, :func:`features.fused.rolling.bands_push`) and EMA
    as values (the rings in memory): their new values, then price vs SMA and EMA, Bollinger %b and width."""
    wb = bbuf.shape[0]
    sa, se, sb, sf, anc, vk, btot, var = bands_push(bbuf, i, bk, sv[0], sv[1], sv[2], sv[3], sv[4], sv[5], c)
    mid = btot / wb
    band = p.bb_k * math.sqrt(var)
    mbuf[mk % mbuf.shape[0], i] = c
    mk += 1
    mtot = btot if mbuf.shape[0] == wb else ring_sum(mbuf, i)
    v0 = c / (mtot / max(min(mk, p.ma_w), 1)) - 1.0
    e = ema(em, c, 2.0 / (p.ma_w + 1))
    v2 = (c - (mid - band)) / (2 * band) if band > FLAT_BAND * abs(mid) else 0.5
    return bk + 1, (sa, se, sb, sf, anc, float(vk)), e, mk, v0, c / e - 1.0, v2, 2 * band / mid


@njit(cache=True, inline="always")
def k_atr(i, h, lw, c, pc, nn, ks, p, fo):
    """ATR (Wilder) over the close, on the gap-free previous close."""
    at, an = ks[5]
    at[i], an[i], v = atr_step(at[i], an[i], h, lw, c, pc, p)
    put(fo, p.col[5], i, v, nn, p.warmup)


@njit(cache=True, inline="always")
def atr_step(v, k, h, lw, c, pc, p):
    """:func:`k_atr` on its state as values: the new ones and the output."""
    tr = max(h - lw, max(abs(h - pc), abs(lw - pc)))
    k = k + 1
    wt = 1.0 / k if k <= p.atr_p else 1.0 / p.atr_p
    v = v + wt * (tr - v)
    return v, k, v / c


@njit(cache=True, inline="always")
def k_rv(i, r1, nn, ks, p, fo):
    """EWM realized volatility, one per half-life."""
    rv_s = ks[6]
    for q in range(len(rv_s)):
        st = rv_s[q]
        v = ema(st[i], r1 * r1, p.rv_alpha[q])
        st[i] = v
        put(fo, p.col[6] + q, i, math.sqrt(v), nn, p.warmup)


@njit(cache=True, inline="always")
def k_obv(i, r1, vol, nn, ks, p, fo):
    """OBV change z-scored."""
    ob, v2, on, oh, oh_n = ks[7]
    ob[i], v2[i], on[i], oh_n[i], v = obv_step(i, ob[i], v2[i], on[i], oh_n[i], r1, vol, oh, p)
    put(fo, p.col[7], i, v, nn, p.warmup)


@njit(cache=True, inline="always")
def obv_step(i, ob, sq, k, cnt, r1, vol, oh, p):
    """:func:`k_obv` on its state as values (its ring in memory): the new ones and the output."""
    sgn = 1.0 if r1 > 0 else (-1.0 if r1 < 0 else 0.0)
    ob = ob + sgn * vol
    k = k + 1
    a = max(p.obv_alpha, 1.0 / k)
    sq = sq + a * (vol * vol - sq)
    oh[cnt & (oh.shape[0] - 1), i] = ob
    cnt += 1
    back = oh[(cnt - 1 - p.obv_w) & (oh.shape[0] - 1), i] if cnt > p.obv_w else NAN
    back = 0.0 if math.isnan(back) else back
    return ob, sq, k, cnt, (ob - back) / math.sqrt(p.obv_w * sq) if sq > 0 else 0.0


@njit(cache=True, inline="always")
def k_vtod(i, minute_, vol, nn, ks, p, fo):
    """Volume vs the same minute of past sessions (history updates after the value: a bar never sees itself)."""
    tod, gm, gs, gc = ks[8]
    gm[i], gs[i], gc[i], z = vtod_step(i, gm[i], gs[i], gc[i], minute_, vol, tod, p)
    put(fo, p.col[8], i, z, nn, p.warmup)


@njit(cache=True, inline="always")
def vtod_step(i, gm, gs, gc, minute_, vol, tod, p):
    """:func:`k_vtod` on the all-minutes statistics as values (the per-minute table in memory): their new
    values and the output."""
    lv = vlog(1.0 + vol)  # log1p(volume) within an ulp
    m = min(max(minute_, 1), tod.shape[1] - 1)
    mu, var, cm = tod[0, m, i], tod[1, m, i], tod[2, m, i]
    use_tod = cm >= 2
    sd = math.sqrt(var if use_tod else gs)
    z = (lv - (mu if use_tod else gm)) / max(sd, p.vtod_floor)
    z = z if (gc >= 2 or use_tod) else NAN
    a = max(p.vtod_a_day, 1.0 / (cm + 1))
    d = lv - mu
    tod[0, m, i], tod[1, m, i], tod[2, m, i] = mu + a * d, (1 - a) * (var + a * d * d), cm + 1
    a = max(p.vtod_a_all, 1.0 / (gc + 1))
    d = lv - gm
    return gm + a * d, (1 - a) * (gs + a * d * d), gc + 1, z


@njit(cache=True, inline="always")
def k_vwap(i, session, c, vwap, vol, nn, ks, p, fo):
    """Close vs the session VWAP and a rolling VWAP (its window sums kept running: :mod:`features.fused.rolling`)."""
    spv, sv, sess, pv, pv_n, vv, vv_n, run = ks[9]
    spv[i], sv[i], sess[i], v0, v1 = vwap_step(i, spv[i], sv[i], sess[i], session, c, vwap, vol, ks)
    put(fo, p.col[9], i, v0, nn, p.warmup)
    put(fo, p.col[9] + 1, i, v1, nn, p.warmup)


@njit(cache=True, inline="always")
def vwap_step(i, sa, sb, sess, session, c, vwap, vol, ks):
    """:func:`k_vwap` on the session's sums as values (the rolling window in memory): their new values and the
    two outputs."""
    _spv, _sv, _sess, pv, pv_n, vv, vv_n, run = ks[9]
    fresh = sess != session
    pvx = vwap * vol
    sa = (0.0 if fresh else sa) + pvx
    sb = (0.0 if fresh else sb) + vol
    rp, rv, traded = push_sums(pv, pv_n, vv, vv_n, run, i, pvx, vol)
    return sa, sb, session, c / (sa / sb if sb > 0 else c) - 1.0, c / (rp / rv if traded else c) - 1.0


@njit(cache=True, inline="always")
def k_micro(i, bid, ask, bsz, asz, nn, ks, p, fo):
    """Quoted spread and order-book imbalance, raw and EWM: a bar without a usable quote keeps them."""
    spread, spread_s, obi, obi_s = ks[10]
    sp, sps, oi, ois = micro_step(spread[i], spread_s[i], obi[i], obi_s[i], bid, ask, bsz, asz, p)
    spread[i], spread_s[i], obi[i], obi_s[i] = sp, sps, oi, ois
    put(fo, p.col[10], i, sp, nn, p.warmup)
    put(fo, p.col[10] + 1, i, sps, nn, p.warmup)
    put(fo, p.col[10] + 2, i, oi, nn, p.warmup)
    put(fo, p.col[10] + 3, i, ois, nn, p.warmup)


@njit(cache=True, inline="always")
def micro_step(sp, sps, oi, ois, bid, ask, bsz, asz, p):
    """:func:`k_micro` on its state as values: the new ones (the outputs)."""
    if bid > 0 and ask >= bid and bsz + asz > 0:
        sp = (ask - bid) / ((ask + bid) / 2) * 1e4
        oi = (bsz - asz) / (bsz + asz)
        sps = ema(sps, sp, p.micro_alpha)
        ois = ema(ois, oi, p.micro_alpha)
    return sp, sps, oi, ois


@njit(cache=True, inline="always")
def k_tail(i, ts, session, c, r1, nn, eng, ks, p):
    """What the later stages read — the log price (FFD), the cumulative log return (leaders, rank key) — and
    the symbol's bookkeeping. Returns ``(rank key, log price)``."""
    last_close, last_session, last_upd_ts, nupd, _fo = eng
    lp = vlog(c)
    ks[11][2][i] = lp
    x_csum, _cov, _var, x_rv, _xn, x_hist, x_hist_n = ks[12]
    x_csum[i], x_hist_n[i], x_rv[i], rk = tail_step(i, x_csum[i], x_hist_n[i], x_rv[i], r1, x_hist, p)
    last_close[i], last_session[i], last_upd_ts[i], nupd[i] = c, session, ts, nn
    return rk, lp


@njit(cache=True, inline="always")
def tail_step(i, xc, cnt, rv, r1, x_hist, p):
    """:func:`k_tail`'s cumulative log return, its ring's push count and the EWM variance as values (the ring in
    memory): their new values and the rank key."""
    xc = xc + r1
    x_hist[cnt & (x_hist.shape[0] - 1), i] = xc
    cnt += 1
    rv = rv + p.x_vol_alpha * (r1 * r1 - rv)
    rk = xc - x_hist[(cnt - 1 - p.x_rank_w) & (x_hist.shape[0] - 1), i] if cnt > p.x_rank_w else NAN
    return xc, cnt, rv, rk

"""Stage 1 of the engine minute: every per-symbol kernel of :mod:`features.kernels`, compiled, as one function
per kernel over ONE symbol's fresh bar (:func:`prologue` first: previous close, 1-bar log return, update count;
:func:`k_tail` last: what the later stages read, and the bookkeeping).

These functions are the single definition both paths run. The online step (:func:`features.fused.core.minute`)
calls them a kernel at a time over the minute's symbols; the batch fold (:func:`features.fused.fold.symbol_day`)
calls them a kernel at a time over a symbol's day. A kernel reads and writes only its own state, so each state
sees the same calls with the same operands in the same order either way: the same bits. Each function mirrors
the numpy kernel of the same name (same state keys and formulas); the numpy kernels stay the readable reference
(``tests/features/test_fused.py`` holds the two to 1e-9 and the two paths to each other bit for bit).

State arrays are ``(..., n)`` with the symbol last; ``fo`` is the engine's last outputs ``(features, n)``: an
updated symbol's outputs are written there (NaN until its update count reaches each feature's warm-up), a
symbol that did not update keeps its last values (a halt freezes them).
"""

import math

import numpy as np
from numba import njit

from features.fused.ops import ago2, ema, put, ring_push, ring_sum
from features.fused.rolling import push_bands, push_sums
from features.fused.vmath import vlog
from features.kernels.volatility import FLAT_BAND

NAN = np.nan


@njit(cache=True, inline="always")
def prologue(i, session, o, c, eng):
    """A fresh bar's previous close (its open after a session change or as its first bar), 1-bar log return and
    update count."""
    last_close, last_session, _ts, nupd, _fo = eng
    prev = last_close[i]
    pc = o if (last_session[i] != session or math.isnan(prev)) else prev
    return pc, vlog(c / pc), nupd[i] + 1


@njit(cache=True, inline="always")
def k_roc(i, c, pc, nn, ks, p, fo):
    """ROC: the running product of gross returns over a power-of-two ring of it."""
    warm = p.warmup
    cum, hist, hist_n = ks[0]
    cs = cum[i] * (c / pc)
    cum[i] = cs
    cnt = hist_n[i]
    hist[cnt & (hist.shape[0] - 1), i] = cs
    cnt += 1
    hist_n[i] = cnt
    for q in range(p.roc_w.shape[0]):
        w = p.roc_w[q]
        back = 1.0 if cnt == w else ago2(hist, hist_n, i, w)
        put(fo, p.col[0] + q, i, cs / back - 1.0 if cnt > 1 else NAN, nn, warm)


@njit(cache=True, inline="always")
def k_rsi(i, c, pc, nn, ks, p, fo):
    """RSI (Wilder: a plain mean over the first ``period`` changes)."""
    gain, loss, rn = ks[1]
    d = c - pc
    k = rn[i] + 1
    wt = 1.0 / k if k <= p.rsi_p else 1.0 / p.rsi_p
    g = gain[i] + wt * (max(d, 0.0) - gain[i])
    lo_ = loss[i] + wt * (max(-d, 0.0) - loss[i])
    gain[i], loss[i], rn[i] = g, lo_, k
    r = (50.0 if g == 0 else 100.0) if lo_ == 0 else 100.0 - 100.0 / (1.0 + g / lo_)
    put(fo, p.col[1], i, r if k > 1 else NAN, nn, p.warmup)


@njit(cache=True, inline="always")
def k_macd(i, c, nn, ks, p, fo):
    """MACD normalized by the close."""
    warm = p.warmup
    fast, slow, sig = ks[2]
    fa = ema(fast[i], c, 2.0 / (p.macd_fast + 1))
    sl = ema(slow[i], c, 2.0 / (p.macd_slow + 1))
    line = (fa - sl) / c
    sg = ema(sig[i], line, 2.0 / (p.macd_signal + 1))
    fast[i], slow[i], sig[i] = fa, sl, sg
    put(fo, p.col[2], i, line, nn, warm)
    put(fo, p.col[2] + 1, i, sg, nn, warm)
    put(fo, p.col[2] + 2, i, line - sg, nn, warm)


@njit(cache=True, inline="always")
def k_bands(i, c, nn, ks, p, fo):
    """Bollinger (population standard deviation, as TA-Lib), then price vs SMA / EMA (the same ring when the
    windows agree: identical contents, so its sum is the same number)."""
    warm = p.warmup
    bbuf, bbuf_n, sums = ks[4]
    wb = bbuf.shape[0]
    btot, var = push_bands(bbuf, bbuf_n, sums, i, c)  # the window's sum and variance (running sums)
    mid = btot / wb
    band = p.bb_k * math.sqrt(var)
    em, mbuf, mbuf_n = ks[3]
    ring_push(mbuf, mbuf_n, i, c)
    mtot = btot if mbuf.shape[0] == wb else ring_sum(mbuf, i)
    put(fo, p.col[3], i, c / (mtot / max(min(mbuf_n[i], p.ma_w), 1)) - 1.0, nn, warm)
    e = ema(em[i], c, 2.0 / (p.ma_w + 1))
    em[i] = e
    put(fo, p.col[3] + 1, i, c / e - 1.0, nn, warm)
    put(fo, p.col[4], i, (c - (mid - band)) / (2 * band) if band > FLAT_BAND * abs(mid) else 0.5, nn, warm)
    put(fo, p.col[4] + 1, i, 2 * band / mid, nn, warm)


@njit(cache=True, inline="always")
def k_atr(i, h, lw, c, pc, nn, ks, p, fo):
    """ATR (Wilder) over the close, on the gap-free previous close."""
    at, an = ks[5]
    tr = max(h - lw, max(abs(h - pc), abs(lw - pc)))
    k = an[i] + 1
    wt = 1.0 / k if k <= p.atr_p else 1.0 / p.atr_p
    v = at[i] + wt * (tr - at[i])
    at[i], an[i] = v, k
    put(fo, p.col[5], i, v / c, nn, p.warmup)


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
    sgn = 1.0 if r1 > 0 else (-1.0 if r1 < 0 else 0.0)
    ob_new = ob[i] + sgn * vol
    k = on[i] + 1
    a = max(p.obv_alpha, 1.0 / k)
    sq = v2[i] + a * (vol * vol - v2[i])
    ob[i], v2[i], on[i] = ob_new, sq, k
    cnt = oh_n[i]
    oh[cnt & (oh.shape[0] - 1), i] = ob_new
    oh_n[i] = cnt + 1
    back = ago2(oh, oh_n, i, p.obv_w)
    back = 0.0 if math.isnan(back) else back
    put(fo, p.col[7], i, (ob_new - back) / math.sqrt(p.obv_w * sq) if sq > 0 else 0.0, nn, p.warmup)


@njit(cache=True, inline="always")
def k_vtod(i, minute_, vol, nn, ks, p, fo):
    """Volume vs the same minute of past sessions (history updates after the value: a bar never sees itself)."""
    tod, gm, gs, gc = ks[8]
    lv = vlog(1.0 + vol)  # log1p(volume) within an ulp
    m = min(max(minute_, 1), tod.shape[1] - 1)
    mu, var, cm = tod[0, m, i], tod[1, m, i], tod[2, m, i]
    use_tod = cm >= 2
    sd = math.sqrt(var if use_tod else gs[i])
    z = (lv - (mu if use_tod else gm[i])) / max(sd, p.vtod_floor)
    put(fo, p.col[8], i, z if (gc[i] >= 2 or use_tod) else NAN, nn, p.warmup)
    a = max(p.vtod_a_day, 1.0 / (cm + 1))
    d = lv - mu
    tod[0, m, i], tod[1, m, i], tod[2, m, i] = mu + a * d, (1 - a) * (var + a * d * d), cm + 1
    a = max(p.vtod_a_all, 1.0 / (gc[i] + 1))
    d = lv - gm[i]
    gm[i], gs[i], gc[i] = gm[i] + a * d, (1 - a) * (gs[i] + a * d * d), gc[i] + 1


@njit(cache=True, inline="always")
def k_vwap(i, session, c, vwap, vol, nn, ks, p, fo):
    """Close vs the session VWAP and a rolling VWAP (its window sums kept running: :mod:`features.fused.rolling`)."""
    warm = p.warmup
    spv, sv, sess, pv, pv_n, vv, vv_n, run = ks[9]
    fresh = sess[i] != session
    pvx = vwap * vol
    sa = (0.0 if fresh else spv[i]) + pvx
    sb = (0.0 if fresh else sv[i]) + vol
    spv[i], sv[i], sess[i] = sa, sb, session
    rp, rv, traded = push_sums(pv, pv_n, vv, vv_n, run, i, pvx, vol)
    put(fo, p.col[9], i, c / (sa / sb if sb > 0 else c) - 1.0, nn, warm)
    put(fo, p.col[9] + 1, i, c / (rp / rv if traded else c) - 1.0, nn, warm)


@njit(cache=True, inline="always")
def k_micro(i, bid, ask, bsz, asz, nn, ks, p, fo):
    """Quoted spread and order-book imbalance, raw and EWM: a bar without a usable quote keeps them."""
    warm = p.warmup
    spread, spread_s, obi, obi_s = ks[10]
    if bid > 0 and ask >= bid and bsz + asz > 0:
        sp = (ask - bid) / ((ask + bid) / 2) * 1e4
        oi = (bsz - asz) / (bsz + asz)
        spread[i], spread_s[i] = sp, ema(spread_s[i], sp, p.micro_alpha)
        obi[i], obi_s[i] = oi, ema(obi_s[i], oi, p.micro_alpha)
    put(fo, p.col[10], i, spread[i], nn, warm)
    put(fo, p.col[10] + 1, i, spread_s[i], nn, warm)
    put(fo, p.col[10] + 2, i, obi[i], nn, warm)
    put(fo, p.col[10] + 3, i, obi_s[i], nn, warm)


@njit(cache=True, inline="always")
def k_tail(i, ts, session, c, r1, nn, eng, ks, p):
    """What the later stages read — the log price (FFD), the cumulative log return (leaders, rank key) — and
    the symbol's bookkeeping. Returns ``(rank key, log price)``."""
    last_close, last_session, last_upd_ts, nupd, _fo = eng
    lp = vlog(c)
    ks[11][2][i] = lp
    x_csum, _cov, _var, x_rv, _xn, x_hist, x_hist_n = ks[12]
    xc = x_csum[i] + r1
    x_csum[i] = xc
    cnt = x_hist_n[i]
    x_hist[cnt & (x_hist.shape[0] - 1), i] = xc
    cnt += 1
    x_hist_n[i] = cnt
    x_rv[i] = x_rv[i] + p.x_vol_alpha * (r1 * r1 - x_rv[i])
    rk = xc - ago2(x_hist, x_hist_n, i, p.x_rank_w) if cnt > p.x_rank_w else NAN
    last_close[i], last_session[i], last_upd_ts[i], nupd[i] = c, session, ts, nn
    return rk, lp

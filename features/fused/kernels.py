"""The per-symbol kernels of :mod:`features.kernels`, one symbol at a time, compiled with numba.

Each function mirrors the numpy kernel of the same name line for line (same state keys, same formulas, same
order of operations), for one updated symbol ``i``; it commits that symbol's state and writes its outputs into
``f`` (the symbol's row of the engine's last-output matrix) from column ``c``, returning the next free column.
The numpy kernels stay the readable reference: ``tests/features/test_fused.py`` holds the two to 1e-9.
"""

import math

import numpy as np
from numba import njit

NAN = np.nan


@njit(cache=True, inline="always")
def push(buf, cnt, i, v):
    buf[i, cnt[i] % buf.shape[1]] = v
    cnt[i] += 1


@njit(cache=True, inline="always")
def ago(buf, cnt, i, k):
    """``Ring.ago``: the value pushed ``k`` pushes before the latest, NaN if there is none."""
    c = cnt[i]
    if c > k:
        return buf[i, (c - 1 - k) % buf.shape[1]]
    return NAN


@njit(cache=True, inline="always")
def ema(prev, v, a):
    return v if math.isnan(prev) else prev + a * (v - prev)


@njit(cache=True, inline="always")
def roc(i, ret1, s, windows, f, c):
    csum, hist, hist_n = s
    cs = csum[i] + ret1
    csum[i] = cs
    push(hist, hist_n, i, cs)
    cnt = hist_n[i]
    for q in range(len(windows)):
        w = windows[q]
        if cnt <= 1:
            f[c + q] = NAN
        else:
            back = 0.0 if cnt == w else ago(hist, hist_n, i, w)
            f[c + q] = math.expm1(cs - back)
    return c + len(windows)


@njit(cache=True, inline="always")
def rsi(i, d, s, p, f, c):
    gain, loss, n = s
    cnt = n[i] + 1
    up = max(d, 0.0)
    dn = max(-d, 0.0)
    w = 1.0 / cnt if cnt <= p else 1.0 / p
    g = gain[i] + w * (up - gain[i])
    lo = loss[i] + w * (dn - loss[i])
    gain[i], loss[i], n[i] = g, lo, cnt
    if lo == 0:
        r = 50.0 if g == 0 else 100.0
    else:
        r = 100.0 - 100.0 / (1.0 + g / lo)
    f[c] = r if cnt > 1 else NAN
    return c + 1


@njit(cache=True, inline="always")
def macd(i, close, s, fast_n, slow_n, sig_n, f, c):
    fast, slow, sig = s
    fa = ema(fast[i], close, 2.0 / (fast_n + 1))
    sl = ema(slow[i], close, 2.0 / (slow_n + 1))
    line = (fa - sl) / close
    sg = ema(sig[i], line, 2.0 / (sig_n + 1))
    fast[i], slow[i], sig[i] = fa, sl, sg
    f[c], f[c + 1], f[c + 2] = line, sg, line - sg
    return c + 3


@njit(cache=True, inline="always")
def moving_averages(i, close, s, w, f, c):
    em, buf, buf_n = s
    push(buf, buf_n, i, close)
    filled = min(buf_n[i], w)
    total = 0.0
    for j in range(buf.shape[1]):
        total += buf[i, j]
    sma = total / max(filled, 1)
    e = ema(em[i], close, 2.0 / (w + 1))
    em[i] = e
    f[c], f[c + 1] = close / sma - 1.0, close / e - 1.0
    return c + 2


@njit(cache=True, inline="always")
def bollinger(i, close, s, k, f, c):
    buf, buf_n = s
    push(buf, buf_n, i, close)
    w = buf.shape[1]
    total = 0.0
    for j in range(w):
        total += buf[i, j]
    mid = total / w
    ss = 0.0
    for j in range(w):
        dv = buf[i, j] - mid
        ss += dv * dv
    band = k * math.sqrt(ss / w)
    f[c] = (close - (mid - band)) / (2 * band) if band > 0 else 0.5
    f[c + 1] = 2 * band / mid
    return c + 2


@njit(cache=True, inline="always")
def atr(i, high, low, close, prev_close, s, p, f, c):
    a, n = s
    tr = max(high - low, max(abs(high - prev_close), abs(low - prev_close)))
    cnt = n[i] + 1
    w = 1.0 / cnt if cnt <= p else 1.0 / p
    v = a[i] + w * (tr - a[i])
    a[i], n[i] = v, cnt
    f[c] = v / close
    return c + 1


@njit(cache=True, inline="always")
def realized_vol(i, ret1, s, alphas, f, c):
    r2 = ret1 * ret1
    for q in range(len(s)):
        st = s[q]
        v = ema(st[i], r2, alphas[q])
        st[i] = v
        f[c + q] = math.sqrt(v)
    return c + len(s)


@njit(cache=True, inline="always")
def obv(i, ret1, volume, s, w, alpha, f, c):
    ob, v2, n, hist, hist_n = s
    sgn = 1.0 if ret1 > 0 else (-1.0 if ret1 < 0 else 0.0)
    o = ob[i] + sgn * volume
    cnt = n[i] + 1
    a = max(alpha, 1.0 / cnt)
    v = v2[i] + a * (volume * volume - v2[i])
    ob[i], v2[i], n[i] = o, v, cnt
    push(hist, hist_n, i, o)
    back = ago(hist, hist_n, i, w)
    if math.isnan(back):
        back = 0.0
    f[c] = (o - back) / math.sqrt(w * v) if v > 0 else 0.0
    return c + 1


@njit(cache=True, inline="always")
def volume_tod(i, volume, minute, s, a_day, a_all, sd_floor, f, c):
    m_, s_, c_, gm, gs, gc = s
    lv = math.log1p(volume)
    m = min(max(minute, 1), m_.shape[1] - 1)
    mu, var, cnt = m_[i, m], s_[i, m], c_[i, m]
    use_tod = cnt >= 2
    mean = mu if use_tod else gm[i]
    sd = math.sqrt(var if use_tod else gs[i])
    z = (lv - mean) / max(sd, sd_floor)
    f[c] = z if (gc[i] >= 2 or use_tod) else NAN
    a = max(a_day, 1.0 / (cnt + 1))
    d = lv - mu
    m_[i, m], s_[i, m], c_[i, m] = mu + a * d, (1 - a) * (var + a * d * d), cnt + 1
    a = max(a_all, 1.0 / (gc[i] + 1))
    d = lv - gm[i]
    gm[i], gs[i], gc[i] = gm[i] + a * d, (1 - a) * (gs[i] + a * d * d), gc[i] + 1
    return c + 1


@njit(cache=True, inline="always")
def vwap_dev(i, close, vwap, volume, session, s, f, c):
    spv, sv, sess, pv, pv_n, vv, vv_n = s
    fresh = sess[i] != session
    p = vwap * volume
    a = (0.0 if fresh else spv[i]) + p
    b = (0.0 if fresh else sv[i]) + volume
    spv[i], sv[i], sess[i] = a, b, session
    push(pv, pv_n, i, p)
    push(vv, vv_n, i, volume)
    rp, rv = 0.0, 0.0
    for j in range(pv.shape[1]):
        rp += pv[i, j]
    for j in range(vv.shape[1]):
        rv += vv[i, j]
    s_vwap = a / b if b > 0 else close
    r_vwap = rp / rv if rv > 0 else close
    f[c], f[c + 1] = close / s_vwap - 1.0, close / r_vwap - 1.0
    return c + 2


@njit(cache=True, inline="always")
def micro(i, bid, ask, bid_size, ask_size, s, alpha, f, c):
    spread, spread_s, ob, ob_s = s
    if bid > 0 and ask >= bid and bid_size + ask_size > 0:
        sp = (ask - bid) / ((ask + bid) / 2) * 1e4
        o = (bid_size - ask_size) / (bid_size + ask_size)
        spread[i], spread_s[i] = sp, ema(spread_s[i], sp, alpha)
        ob[i], ob_s[i] = o, ema(ob_s[i], o, alpha)
    f[c], f[c + 1], f[c + 2], f[c + 3] = spread[i], spread_s[i], ob[i], ob_s[i]
    return c + 4


@njit(cache=True, inline="always")
def dot(a, b):
    """``a @ b`` with eight independent accumulators (a fixed order, so every caller gets the same bits)."""
    n = a.shape[0]
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    j = 0
    while j + 8 <= n:
        a0 += a[j] * b[j]
        a1 += a[j + 1] * b[j + 1]
        a2 += a[j + 2] * b[j + 2]
        a3 += a[j + 3] * b[j + 3]
        a4 += a[j + 4] * b[j + 4]
        a5 += a[j + 5] * b[j + 5]
        a6 += a[j + 6] * b[j + 6]
        a7 += a[j + 7] * b[j + 7]
        j += 8
    total = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
    while j < n:
        total += a[j] * b[j]
        j += 1
    return total

"""The volume and quote kernels of :mod:`features.kernels` over a block of lanes at one minute (the conventions
of :mod:`features.fused.kernels`)."""

import math

import numpy as np
from numba import njit

from features.fused.ops import ago2, ema, emit, push, push2, ring_sum
from features.fused.vmath import vlog

NAN = np.nan


@njit(cache=True, error_model="numpy")
def obv(lo, nl, u, nn, vol, r1, s, p, fo, warm, S):
    """OBV change over ``p.obv_w`` bars z-scored by ``sqrt(window * EWM(volume^2))``."""
    ob, v2, on, hist, hist_n = s
    ob_b, v2_b, on_b = ob[lo : lo + nl], v2[lo : lo + nl], on[lo : lo + nl]
    o_new, sq = S[0], S[1]
    for l in range(nl):
        ret, v_ = r1[l], vol[l]
        sgn = 1.0 if ret > 0 else (-1.0 if ret < 0 else 0.0)
        o = ob_b[l] + sgn * v_
        k = on_b[l] + 1
        a = max(p.obv_alpha, 1.0 / k)
        q = v2_b[l] + a * (v_ * v_ - v2_b[l])
        ob_b[l] = o if u[l] else ob_b[l]
        v2_b[l] = q if u[l] else v2_b[l]
        on_b[l] = k if u[l] else on_b[l]
        o_new[l], sq[l] = o, q
    push2(hist, hist_n, lo, nl, u, o_new)
    w = p.obv_w
    z = S[2]
    for l in range(nl):
        back = ago2(hist, hist_n, lo + l, w) if u[l] else 0.0
        back = 0.0 if math.isnan(back) else back
        z[l] = (o_new[l] - back) / math.sqrt(w * sq[l]) if sq[l] > 0 else 0.0
    emit(fo, p.col[7], lo, nl, u, nn, warm, z)


@njit(cache=True, error_model="numpy")
def volume_tod(lo, nl, u, nn, minute, vol, s, p, fo, warm, S):
    """Volume (log1p) z-scored against the same minute of past sessions; the all-minute statistics until a
    minute has two sessions of history. History updates after the value: a bar never sees itself."""
    m_, s_, c_, gm, gs, gc = s
    m = min(max(minute, 1), m_.shape[0] - 1)
    mm, sm, cm = m_[m, lo : lo + nl], s_[m, lo : lo + nl], c_[m, lo : lo + nl]
    gm_b, gs_b, gc_b = gm[lo : lo + nl], gs[lo : lo + nl], gc[lo : lo + nl]
    lv = S[0]
    for l in range(nl):
        lv[l] = vlog(1.0 + vol[l])  # log1p(volume) within an ulp
    z = S[1]
    for l in range(nl):
        x = lv[l]
        mu, var, cnt = mm[l], sm[l], cm[l]
        use_tod = cnt >= 2
        mean = mu if use_tod else gm_b[l]
        sd = math.sqrt(var if use_tod else gs_b[l])
        zz = (x - mean) / max(sd, p.vtod_floor)
        z[l] = zz if (gc_b[l] >= 2 or use_tod) else NAN
        a = max(p.vtod_a_day, 1.0 / (cnt + 1))
        d = x - mu
        ok = u[l]
        mm[l] = mu + a * d if ok else mu
        sm[l] = (1 - a) * (var + a * d * d) if ok else var
        cm[l] = cnt + 1 if ok else cnt
        a = max(p.vtod_a_all, 1.0 / (gc_b[l] + 1))
        d = x - gm_b[l]
        g0, g1, g2 = gm_b[l] + a * d, (1 - a) * (gs_b[l] + a * d * d), gc_b[l] + 1
        gm_b[l] = g0 if ok else gm_b[l]
        gs_b[l] = g1 if ok else gs_b[l]
        gc_b[l] = g2 if ok else gc_b[l]
    emit(fo, p.col[8], lo, nl, u, nn, warm, z)


@njit(cache=True, error_model="numpy")
def vwap_dev(lo, nl, u, nn, session, c, vwap, vol, s, p, fo, warm, S):
    """Close vs the session VWAP and vs a rolling VWAP over the last ``window`` bars."""
    spv, sv, sess, pv, pv_n, vv, vv_n = s
    spv_b, sv_b, sess_b = spv[lo : lo + nl], sv[lo : lo + nl], sess[lo : lo + nl]
    pvx, sa_, sb_ = S[0], S[1], S[2]
    for l in range(nl):
        fresh = sess_b[l] != session
        x = vwap[l] * vol[l]
        a = (0.0 if fresh else spv_b[l]) + x
        b = (0.0 if fresh else sv_b[l]) + vol[l]
        ok = u[l]
        spv_b[l] = a if ok else spv_b[l]
        sv_b[l] = b if ok else sv_b[l]
        sess_b[l] = session if ok else sess_b[l]
        pvx[l], sa_[l], sb_[l] = x, a, b
    push(pv, pv_n, lo, nl, u, pvx)
    push(vv, vv_n, lo, nl, u, vol)
    rp, rv = S[3], S[4]
    ring_sum(pv, lo, nl, rp)
    ring_sum(vv, lo, nl, rv)
    for l in range(nl):
        close = c[l]
        s_vwap = sa_[l] / sb_[l] if sb_[l] > 0 else close
        r_vwap = rp[l] / rv[l] if rv[l] > 0 else close
        sa_[l] = close / s_vwap - 1.0
        sb_[l] = close / r_vwap - 1.0
    emit(fo, p.col[9], lo, nl, u, nn, warm, sa_)
    emit(fo, p.col[9] + 1, lo, nl, u, nn, warm, sb_)


@njit(cache=True, error_model="numpy")
def micro(lo, nl, u, nn, bid, ask, bsz, asz, s, p, fo, warm, S):
    """Quoted spread (bps) and order-book imbalance, raw and EWM; a bar without a usable quote keeps them."""
    spread, spread_s, ob, ob_s = s[0][lo : lo + nl], s[1][lo : lo + nl], s[2][lo : lo + nl], s[3][lo : lo + nl]
    alpha = p.micro_alpha
    for l in range(nl):
        b, a, bs, as_ = bid[l], ask[l], bsz[l], asz[l]
        ok = u[l] and b > 0 and a >= b and bs + as_ > 0
        sp = (a - b) / ((a + b) / 2) * 1e4
        o = (bs - as_) / (bs + as_)
        sps, obs = ema(spread_s[l], sp, alpha), ema(ob_s[l], o, alpha)
        spread[l] = sp if ok else spread[l]
        spread_s[l] = sps if ok else spread_s[l]
        ob[l] = o if ok else ob[l]
        ob_s[l] = obs if ok else ob_s[l]
    c0 = p.col[10]
    emit(fo, c0, lo, nl, u, nn, warm, spread)
    emit(fo, c0 + 1, lo, nl, u, nn, warm, spread_s)
    emit(fo, c0 + 2, lo, nl, u, nn, warm, ob)
    emit(fo, c0 + 3, lo, nl, u, nn, warm, ob_s)

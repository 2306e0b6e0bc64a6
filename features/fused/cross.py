"""Stage 3 of the engine minute: what reads other symbols.

:func:`rank_minute` ranks the minute's rank keys over the whole cross-section (it must see every symbol);
:func:`market` picks SPY and the market volatility of the minute; :func:`symbol_cross` then does one symbol's
part — its leader's window returns, beta against the leader (an EWM it carries), the residual return, its rank,
market volatility. Leaders' values come as arrays by leader slot (``lret[slot, window]``, ``lret1[slot]``), so
the online step (all symbols at one minute) and the batch fold (a symbol's day after its leaders' days) feed the
same function the same numbers.
"""

import math

import numpy as np
from numba import njit

from features.fused.ops import put
from features.fused.sort import BUCKETS, radix_argsort

NAN = np.nan


def rank_scratch(n: int) -> tuple:
    """Working memory of :func:`rank_minute` over ``n`` symbols (the compiled engine allocates nothing itself)."""
    return (
        np.empty(n, np.int64),
        np.empty(n),
        np.empty(n, np.uint64),
        np.empty((2, n), np.int64),
        np.empty(BUCKETS + 1, np.int64),
    )


@njit(cache=True, error_model="numpy", _nrt=False)
def rank_minute(upd, keys, scratch):
    """Replace each updated symbol's rank key by its rank in ``[0, 1]`` among them; NaN for the others, and for
    everybody when fewer than two symbols have a key. Equal keys share the average of their places (``-0.0``
    equals ``0.0``), so a tie says nothing of where a symbol sits in the registry. ``scratch``:
    :func:`rank_scratch`."""
    idx, vals, rkeys, order, counts = scratch
    n = keys.shape[0]
    cnt = 0
    for i in range(n):
        if upd[i] and not math.isnan(keys[i]):
            idx[cnt] = i
            vals[cnt] = keys[i]
            cnt += 1
    for i in range(n):
        keys[i] = NAN
    if cnt > 1:
        cur = radix_argsort(vals[:cnt], rkeys, order, counts)
        srt = order[cur]
        a = 0
        while a < cnt:
            b = a + 1
            while b < cnt and vals[srt[b]] == vals[srt[a]]:
                b += 1
            r = (a + b - 1) / 2 / (cnt - 1)  # the run a:b of equal keys shares its mean place
            for q in range(a, b):
                keys[idx[srt[q]]] = r
            a = b


@njit(cache=True, error_model="numpy", _nrt=False)
def market(t, spy, since, lslot, lrv, vix, use_vix):
    """SPY's registry row if it exists at minute ``t`` (else -1), and the minute's market volatility: SPY's EWM
    realized volatility, or the VIX series when one is used."""
    sp = spy if spy >= 0 and since[spy] <= t else -1
    mkt_vol = math.sqrt(lrv[lslot[sp]]) if sp >= 0 else NAN
    return sp, (vix if use_vix else mkt_vol)


@njit(cache=True, inline="always")
def leader_of(i, t, leader, since, sp):
    """Symbol ``i``'s leader at minute ``t``: its own if it exists by then, else SPY (``sp``, -1 if none)."""
    lead = leader[i]
    return sp if lead < 0 or since[lead] > t else lead


@njit(cache=True, inline="always")
def symbol_cross(i, lead, sp, ret1, lr, rank, mkt_vol, lret, lslot, nn, xa_s, fo, p):
    """Stage 3 for updated symbol ``i``: ``lead`` its leader (-1 if none), ``lr`` the leader's 1-bar log return
    this minute (0 if it did not trade), ``lret[slot, w]`` the leaders' window returns; writes ``fo``."""
    _csum, x_cov, x_var, _rv, x_n, _h, _hn = xa_s
    nw = p.x_windows.shape[0]
    xc = p.col[12]
    warm = p.warmup
    leader_windows(i, lead, sp, lret, lslot, nn, xc, nw, warm, fo)
    x_cov[i], x_var[i], x_n[i], beta, resid = cross_step(i, x_cov[i], x_var[i], x_n[i], lead, ret1, lr, p)
    put(fo, xc + 2 * nw, i, beta, nn, warm)
    put(fo, xc + 2 * nw + 1, i, resid, nn, warm)
    put(fo, xc + 2 * nw + 2, i, rank, nn, warm)
    put(fo, xc + 2 * nw + 3, i, mkt_vol, nn, warm)


@njit(cache=True, inline="always")
def leader_windows(i, lead, sp, lret, lslot, nn, xc, nw, warm, fo):
    """SPY's and the leader's window returns (``nw`` each) into ``fo`` from column ``xc``."""
    for q in range(nw):
        put(fo, xc + q, i, lret[lslot[sp], q] if sp >= 0 else NAN, nn, warm)
        put(fo, xc + nw + q, i, lret[lslot[lead], q] if lead >= 0 else NAN, nn, warm)


@njit(cache=True, inline="always")
def cross_step(i, cov, var, n, lead, ret1, lr, p):
    """Beta against the leader (an EWM of the covariance and variance, ``n`` updates so far) after this minute's
    returns, on its state as values: the new ones, the beta served and the residual return."""
    has = lead >= 0
    lr = lr if has else NAN
    lrz = lr if has else 0.0
    a = max(p.x_beta_alpha, 1.0 / (n + 1))
    cov = cov + a * (ret1 * lrz - cov)
    var = var + a * (lrz * lrz - var)
    beta = min(max(cov / var if var > 0 else 0.0, -p.x_beta_clip), p.x_beta_clip)
    if lead == i:
        beta = 1.0
    return cov, var, n + 1, beta if has else NAN, ret1 - beta * lr


@njit(cache=True, inline="always")
def tod_angle(minute_):
    """Sine and cosine of the time of day (a session is one turn)."""
    angle = 2 * np.pi * minute_ / 390.0
    return math.sin(angle), math.cos(angle)


@njit(cache=True, inline="always")
def context(out, row, k_feat, minute_, s_, c_, weekday, halted, stale, i, sector):
    """The context columns of a served row (never frozen by a halt)."""
    out[row, k_feat] = minute_
    out[row, k_feat + 1] = s_
    out[row, k_feat + 2] = c_
    out[row, k_feat + 3] = weekday
    out[row, k_feat + 4] = 1.0 if halted else 0.0
    out[row, k_feat + 5] = stale
    out[row, k_feat + 6] = i
    out[row, k_feat + 7] = sector

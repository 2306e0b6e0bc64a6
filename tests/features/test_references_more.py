"""The features ``test_references`` leaves out, against definitions written here in pandas and plain loops: the
VWAP deviations, spread and imbalance on synthetic quotes (the real-data test skips without ../shared), volume
against the same minute of past sessions, the leaders' returns, beta and residual, market volatility, and the
context columns. Three full sessions, a bar every minute, quotes on every bar: nothing missing, so each definition
is the plain one."""

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from features.batch import fold
from features.engine import FeatureEngine
from features.kernels.volume import SD_FLOOR
from features.spec import ewm_alpha
from marketdata.calendar import bar_stamps, sessions
from marketdata.schemas import BARS_1M, REFERENCE

SYMS = ["SPY", "XLK", "A", "B", "C"]
LEADER = {"SPY": "SPY", "XLK": "SPY", "A": "XLK", "B": "XLK", "C": "SPY"}


@pytest.fixture(scope="module")
def market():
    """Bars (pandas, with each row's session index), and the fold's features (pandas), row for row."""
    rng = np.random.default_rng(21)
    frames = []
    for si, d in enumerate(sessions(dt.date(2026, 3, 2), 3)):
        stamps = bar_stamps(d)
        n = len(stamps)
        base = rng.normal(0, 0.001, n)
        for j, s in enumerate(SYMS):
            r = (0.5 + 0.4 * j) * base + rng.normal(0, 0.0015, n)
            c = (40 + 30 * j) * (1 + 0.01 * si) * np.exp(np.cumsum(r))
            o = np.r_[c[0] * (1 + rng.normal(0, 0.002)), c[:-1]]
            spread = c * rng.uniform(2e-4, 2e-3, n)
            frames.append(
                pd.DataFrame(
                    {
                        "symbol": s,
                        "ts": pd.to_datetime(stamps, utc=True),
                        "open": o,
                        "high": np.maximum(o, c) * (1 + np.abs(rng.normal(0, 5e-4, n))),
                        "low": np.minimum(o, c) * (1 - np.abs(rng.normal(0, 5e-4, n))),
                        "close": c,
                        "volume": np.exp(rng.normal(6 + np.sin(np.arange(n) / 60), 1.0, n)).round(),
                        "vwap": c * (1 + rng.normal(0, 3e-4, n)),
                        "trades": np.int32(9),
                        "bid": c - spread / 2,
                        "ask": c + spread / 2,
                        "bid_size": rng.integers(1, 30, n) * 100.0,
                        "ask_size": rng.integers(1, 30, n) * 100.0,
                        "halted": False,
                        "session": si,
                    }  # fmt: skip
                )
            )
    bars = pd.concat(frames, ignore_index=True).sort_values(["symbol", "ts"], ignore_index=True)
    ref = pa.table(
        {
            "symbol": SYMS,
            "sector": ["Market", "Technology", "Technology", "Technology", "Energy"],
            "market_cap": [1e12] * 5,
            "is_etf": [True, True, False, False, False],
            "leader": [LEADER[s] for s in SYMS],
        },  # fmt: skip
        schema=REFERENCE,
    )
    table = pa.Table.from_pandas(bars.drop(columns="session"), schema=BARS_1M, preserve_index=False)
    feats, _ = fold(FeatureEngine(ref), table)
    f = feats.to_pandas()
    assert (f["symbol"].to_numpy() == bars["symbol"].to_numpy()).all() and (f["ts"] == bars["ts"]).all()
    return bars, f


def check(ours, ref, warmup=0):
    """float32 outputs against float64 references, from the ``warmup``-th row of each symbol on (NaN before)."""
    ours, ref = np.asarray(ours, float), np.asarray(ref, float)
    assert np.isnan(ours[:warmup]).all()
    np.testing.assert_allclose(ours[warmup:], ref[warmup:], rtol=2e-5, atol=2e-6)


def per_symbol(bars, f):
    for s in SYMS:
        m = (bars["symbol"] == s).to_numpy()
        yield s, bars[m].reset_index(drop=True), f[m].reset_index(drop=True)


def ret1(b):
    """The 1-bar log return: against the previous close, or the session's open at its first bar (the overnight
    gap is not a 1-minute return)."""
    prev = b.groupby("session")["close"].shift(1).fillna(b["open"])
    return np.log(b["close"] / prev)


def test_vwap_deviations(market):
    bars, f = market
    for _, b, x in per_symbol(bars, f):
        pv = b["vwap"] * b["volume"]
        sess = pv.groupby(b["session"]).cumsum() / b["volume"].groupby(b["session"]).cumsum()
        check(x["vwap_dev_sess"], b["close"] / sess - 1)
        roll = pv.rolling(30, min_periods=1).sum() / b["volume"].rolling(30, min_periods=1).sum()
        check(x["vwap_dev_30"], b["close"] / roll - 1, warmup=29)


def test_spread_and_imbalance_on_synthetic_quotes(market):
    bars, f = market
    a = ewm_alpha(5)
    for _, b, x in per_symbol(bars, f):
        spread = (b["ask"] - b["bid"]) / ((b["ask"] + b["bid"]) / 2) * 1e4
        obi = (b["bid_size"] - b["ask_size"]) / (b["bid_size"] + b["ask_size"])
        check(x["spread_bps"], spread)
        check(x["spread_bps_ewm_5"], spread.ewm(alpha=a, adjust=False).mean())
        check(x["obi"], obi)
        check(x["obi_ewm_5"], obi.ewm(alpha=a, adjust=False).mean())


def test_volume_against_the_same_minute_of_past_sessions(market):
    """Within a few sessions the EWMs are still plain means (their weight is ``max(alpha, 1/(count+1))``): the
    z-score is against the mean and population deviation of the same minute in past sessions once there are two,
    else of all the symbol's past bars; never against the bar itself."""
    bars, f = market
    for _, b, x in per_symbol(bars, f):
        lv = np.log1p(b["volume"])
        minute = b["ts"].dt.hour * 60 + b["ts"].dt.minute
        past_all = (lv.expanding().mean().shift(1), lv.expanding().var(ddof=0).shift(1), pd.Series(range(len(b))))
        g = lv.groupby(minute)
        past_tod = (g.transform(lambda v: v.expanding().mean().shift(1)),
                    g.transform(lambda v: v.expanding().var(ddof=0).shift(1)), g.cumcount())  # fmt: skip
        tod = past_tod[2] >= 2
        mean = np.where(tod, past_tod[0], past_all[0])
        sd = np.sqrt(np.where(tod, past_tod[1], past_all[1]))
        z = (lv - mean) / np.maximum(sd, SD_FLOOR)
        check(x["vol_z_tod"], np.where(tod | (past_all[2] >= 2), z, np.nan), warmup=2)
        assert tod.sum() == 390  # the third session uses the same minute's history


def beta_resid(r, lr, halflife=60, clip=20.0):
    """EWM beta of ``r`` on ``lr`` (no means: 1-minute returns), a plain mean until the EWM's weight is smaller,
    and the residual return."""
    cov = var = 0.0
    beta, resid = np.empty(len(r)), np.empty(len(r))
    for k, (y, z) in enumerate(zip(r, lr, strict=True)):
        a = max(ewm_alpha(halflife), 1.0 / (k + 1))
        cov, var = cov + a * (y * z - cov), var + a * (z * z - var)
        beta[k] = min(max(cov / var if var > 0 else 0.0, -clip), clip)
        resid[k] = y - beta[k] * z
    return beta, resid


def test_leaders_returns_beta_residual_and_market_volatility(market):
    bars, f = market
    r1 = {s: ret1(b) for s, b, _ in per_symbol(bars, f)}
    rv = np.sqrt(np.r_[0.0, r1["SPY"] ** 2].astype(float))  # EWM of squared returns, from zero
    rv = np.sqrt(pd.Series(rv**2).ewm(alpha=ewm_alpha(30), adjust=False).mean().to_numpy()[1:])
    for s, b, x in per_symbol(bars, f):
        for w in (1, 2, 5):
            for col, who in ((f"spy_ret_{w}", "SPY"), (f"lead_ret_{w}", LEADER[s])):
                check(x[col], np.expm1(r1[who].rolling(w, min_periods=1).sum()))
        check(x["mkt_vol"], rv)
        if s in ("A", "B", "C"):
            beta, resid = beta_resid(r1[s].to_numpy(), r1[LEADER[s]].to_numpy())
            check(x["beta_lead"], beta, warmup=29)
            check(x["resid_ret_1"], resid, warmup=29)


def test_context_columns(market):
    bars, f = market
    t = bars["ts"].dt.tz_convert("America/New_York")
    since = (t.dt.hour * 60 + t.dt.minute) - (9 * 60 + 30)
    np.testing.assert_array_equal(f["minutes_since_open"], since)
    check(f["tod_sin"], np.sin(2 * np.pi * since / 390))
    check(f["tod_cos"], np.cos(2 * np.pi * since / 390))
    np.testing.assert_array_equal(f["day_of_week"], t.dt.dayofweek)
    assert (f["halted"] == 0).all() and (f["stale_minutes"] == 0).all()
    codes = f.groupby("symbol")[["symbol_id", "sector_id"]].nunique()
    assert (codes == 1).all().all() and f.groupby("sector_id")["symbol"].nunique().max() == 3  # technology

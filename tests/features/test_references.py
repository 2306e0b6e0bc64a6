"""Kernels against independent definitions written here in pandas/numpy (one symbol, no gaps)."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy.special import binom

from features.batch import fold
from features.engine import FeatureEngine
from features.kernels.ffd import ffd_weights
from features.streams import random_stream, scramble_after
from marketdata.calendar import bar_stamps
from marketdata.schemas import BARS_1M, TS
from tests.conftest import TAQ_RAW_TZ, shared_data


@pytest.fixture(scope="module")
def one_symbol():
    """One symbol, one full session, a bar every minute (so no gaps and no overnight effects)."""
    import datetime as dt

    rng = np.random.default_rng(7)
    stamps = bar_stamps(dt.date(2026, 3, 3))
    n = len(stamps)
    close = 50 * np.exp(np.cumsum(rng.standard_t(4, n) * 0.002))
    open_ = np.r_[close[0] * 0.999, close[:-1]]
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.001, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.001, n)))
    vol = rng.integers(100, 10_000, n).astype(float)
    bars = pa.table(
        {
            "symbol": ["SPY"] * n,
            "ts": pa.array(stamps, pa.int64()).cast(TS),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": vol,
            "vwap": (high + low + close) / 3,
            "trades": pa.array(np.full(n, 5), pa.int32()),
            "bid": close - 0.01,
            "ask": close + 0.01,
            "bid_size": np.full(n, 300.0),
            "ask_size": np.full(n, 100.0),
            "halted": np.zeros(n, bool),
        },
        schema=BARS_1M,
    )
    feats, _ = fold(FeatureEngine(), bars)
    return bars.to_pandas(), feats.to_pandas()


def close_enough(ours, ref, start):
    ours, ref = np.asarray(ours, float)[start:], np.asarray(ref, float)[start:]
    np.testing.assert_allclose(ours, ref, rtol=2e-5, atol=2e-6)  # float32 output


def prev_close(b):
    return np.r_[b["open"].iloc[0], b["close"].to_numpy()[:-1]]


def test_rsi_wilder(one_symbol):
    b, f = one_symbol
    d = b["close"].to_numpy() - prev_close(b)
    gain, loss = np.zeros(len(d)), np.zeros(len(d))
    g = lo = 0.0
    for i, x in enumerate(d):
        k = min(i + 1, 14)
        g += (max(x, 0) - g) / k
        lo += (max(-x, 0) - lo) / k
        gain[i], loss[i] = g, lo
    ref = 100 - 100 / (1 + gain / loss)
    close_enough(f["rsi_14"], ref, 15)


def test_macd(one_symbol):
    b, f = one_symbol
    c = b["close"]
    line = (c.ewm(span=12, adjust=False).mean() - c.ewm(span=26, adjust=False).mean()) / c
    sig = line.ewm(span=9, adjust=False).mean()
    close_enough(f["macd_line"], line, 35)
    close_enough(f["macd_signal"], sig, 35)
    close_enough(f["macd_hist"], line - sig, 35)


def test_atr(one_symbol):
    b, f = one_symbol
    pc = prev_close(b)
    tr = np.maximum(b["high"] - b["low"], np.maximum(abs(b["high"] - pc), abs(b["low"] - pc))).to_numpy()
    atr = np.zeros(len(tr))
    a = 0.0
    for i, x in enumerate(tr):
        a += (x - a) / min(i + 1, 14)
        atr[i] = a
    close_enough(f["atr_14"], atr / b["close"], 14)


def test_bollinger_and_sma_ema(one_symbol):
    b, f = one_symbol
    c = b["close"]
    mid, sd = c.rolling(20).mean(), c.rolling(20).std(ddof=0)
    close_enough(f["bb_pctb_20"], (c - (mid - 2 * sd)) / (4 * sd), 20)
    close_enough(f["bb_width_20"], 4 * sd / mid, 20)
    close_enough(f["px_sma_20"], c / mid - 1, 20)
    close_enough(f["px_ema_20"], c / c.ewm(span=20, adjust=False).mean() - 1, 20)


def test_roc_and_realized_vol(one_symbol):
    b, f = one_symbol
    c = b["close"]
    close_enough(f["roc_5"], c / c.shift(5) - 1, 6)
    r = np.log(c / prev_close(b))
    close_enough(f["rv_ewm_30"], np.sqrt((r**2).ewm(alpha=1 - 0.5 ** (1 / 30), adjust=False).mean()), 30)


def test_obv(one_symbol):
    b, f = one_symbol
    obv = np.cumsum(np.sign(np.log(b["close"] / prev_close(b))) * b["volume"])
    chg = obv - np.r_[np.zeros(5), obv[:-5]]
    v2 = np.zeros(len(obv))
    m = 0.0
    a_ewm = 1 - 0.5 ** (1 / 30)
    for i, v in enumerate(b["volume"]):
        m += max(a_ewm, 1 / (i + 1)) * (v * v - m)
        v2[i] = m
    close_enough(f["obv_z_5"], chg / np.sqrt(5 * v2), 5)


def test_ffd_weights_are_the_binomial_series():
    for d in (0.3, 0.4, 0.7):
        w = ffd_weights(d, 1e-4)
        k = np.arange(len(w))
        np.testing.assert_allclose(w, (-1.0) ** k * binom(d, k), rtol=1e-12)
        assert abs(w[-1]) >= 1e-4 and abs((-1.0) ** len(w) * binom(d, len(w))) < 1e-4


def test_ffd_value(one_symbol):
    b, f = one_symbol
    w = ffd_weights(0.4)
    lp = np.log(b["close"].to_numpy())
    ref = np.convolve(lp, w, mode="valid")
    close_enough(f["ffd_40"].to_numpy()[len(w) - 1 :], ref, 0)


def test_spread_and_imbalance_on_real_taq_bars():
    d = shared_data("taq-highfrequency")
    from marketdata import loaders
    from marketdata.aggregate import aggregate

    raw_q = loaders.read_any(str(d / "quotes_raw_XXX_2018-01-02_03.parquet"))
    q = loaders.from_table(
        raw_q,
        "quotes",
        {"ts": "DT", "ask": "OFR", "bid_size": "BIDSIZ", "ask_size": "OFRSIZ"},
        tz=TAQ_RAW_TZ,
        size_scale=100,
    )
    q = loaders.consolidate_nbbo(q, raw_q.column("EX"))
    t = loaders.load(
        str(d / "trades_raw_XXX_2018-01-02_03.parquet"),
        "trades",
        {"ts": "DT", "correction": "CORR", "exchange": "EX"},
        tz=TAQ_RAW_TZ,
    )
    bars, _ = aggregate(
        t.filter(loaders.regular_session_mask(t.column("ts"))), q.filter(loaders.regular_session_mask(q.column("ts")))
    )
    feats, _ = fold(FeatureEngine(), bars)
    b, f = bars.to_pandas(), feats.to_pandas()
    ok = b["bid"].notna() & (b["ask"] >= b["bid"]) & (b["bid"] > 0)
    spread = (b["ask"] - b["bid"]) / ((b["ask"] + b["bid"]) / 2) * 1e4
    obi = (b["bid_size"] - b["ask_size"]) / (b["bid_size"] + b["ask_size"])
    np.testing.assert_allclose(f.loc[ok, "spread_bps"], spread[ok], rtol=1e-5)
    np.testing.assert_allclose(f.loc[ok, "obi"], obi[ok], rtol=1e-5, atol=1e-6)
    assert 0 < f["spread_bps"].median() < 20


def test_poisoning_harness_catches_a_centered_window():
    """Control: the same scramble breaks a feature that peeks ahead (a centered rolling mean)."""
    bars, _, _ = random_stream(0, days=1)
    ts = np.unique(bars.column("ts").cast(pa.int64()).to_numpy())
    cut = int(ts[len(ts) // 2])

    def leaky(t: pa.Table) -> pd.Series:
        df = t.to_pandas().sort_values(["symbol", "ts"])
        df["x"] = df.groupby("symbol")["close"].transform(lambda s: s.rolling(5, center=True).mean())
        return df[df["ts"].astype("int64") <= cut].set_index(["symbol", "ts"])["x"]

    a, b = leaky(bars), leaky(scramble_after(bars, cut, 0))
    common = a.index.intersection(b.index)
    assert not np.allclose(a.loc[common].fillna(0), b.loc[common].fillna(0))


def test_cross_sectional_rank_shares_ties_and_ignores_registry_order():
    """``xs_rank_ret_5`` against pandas' average rank of log(close_t / close_{t-5}) over each minute, on a
    cross-section where ties are common: three names never trade away from their price (a 5-bar return of exactly
    0) and two follow the same path. Offline and online both; renaming the names (so they register in another
    order) changes no rank."""
    import datetime as dt

    from features.online import replay

    rng = np.random.default_rng(11)
    stamps = bar_stamps(dt.date(2026, 3, 3))[:60]
    n, k = len(stamps), 10
    paths = 50 * np.exp(np.cumsum(rng.normal(0, 0.002, (k, n)), axis=1))
    paths[1] = paths[0] * 2.0  # the same returns at another price level: ties in every minute
    paths[2:5] = paths[2:5, :1]  # flat: zero returns
    rows = []
    for names in (["SPY"] + [f"N{i}" for i in range(1, k)], ["SPY"] + [f"Z{k - i}" for i in range(1, k)]):
        for j, s in enumerate(names):
            c = paths[j]
            rows.append(
                pd.DataFrame(
                    {
                        "symbol": s,
                        "ts": pd.to_datetime(stamps, utc=True),
                        "open": np.r_[c[0], c[:-1]],
                        "high": c,
                        "low": c,
                        "close": c,
                        "volume": 100.0,
                        "vwap": c,
                        "trades": np.int32(3),
                        "bid": c - 0.01,
                        "ask": c + 0.01,
                        "bid_size": 100.0,
                        "ask_size": 100.0,
                        "halted": False,
                        "universe": names[1],
                        "path": j,
                    }  # fmt: skip
                )
            )
    frame = pd.concat(rows, ignore_index=True)
    lr = np.log(frame["close"] / frame.groupby(["universe", "path"])["close"].shift(5))
    lr = lr.round(12)  # the engine sums 1-bar logs: the same return to ~1e-15, and a tie where the paths tie
    expect = lr.groupby([frame["universe"], frame["ts"]]).rank(method="average")
    expect = (expect - 1) / (lr.groupby([frame["universe"], frame["ts"]]).transform("count") - 1)
    got = {}
    for u, part in frame.groupby("universe", sort=False):
        bars = pa.Table.from_pandas(part.drop(columns=["universe", "path"]), schema=BARS_1M, preserve_index=False)
        for how, table in (("batch", fold(FeatureEngine(), bars)[0]), ("online", replay(FeatureEngine(), bars)[0])):
            f = table.to_pandas().merge(part[["symbol", "ts", "path"]], on=["symbol", "ts"])
            got[(u, how)] = f.set_index(["path", "ts"])["xs_rank_ret_5"].sort_index()
        want = pd.Series(expect[part.index].to_numpy(), pd.MultiIndex.from_frame(part[["path", "ts"]])).sort_index()
        for how in ("batch", "online"):
            np.testing.assert_allclose(got[(u, how)].to_numpy(), want.to_numpy(), rtol=1e-6, equal_nan=True)
    assert want.xs(2).equals(want.xs(4)) and want.xs(0).equals(want.xs(1))  # the ties are there
    assert want.notna().sum() > 0.9 * k * (n - 5)
    (a, b) = frame["universe"].unique()
    pd.testing.assert_series_equal(got[(a, "batch")], got[(b, "batch")])


def test_choose_d_keeps_the_most_memory_that_is_stationary():
    """The smallest d whose FFD series passes ADF, and the one below it does not; more persistent returns need
    more differencing; a series too short to test any d is an error, not a silent d = 1."""
    from statsmodels.tsa.stattools import adfuller

    from features.kernels.ffd import choose_d

    rng = np.random.default_rng(3)
    chosen = []
    for phi in (0.0, 0.9):  # returns AR(1) with coefficient phi, integrated: a log price
        r = np.zeros(8000)
        e = rng.normal(0, 0.001, 8000)
        for i in range(1, 8000):
            r[i] = phi * r[i - 1] + e[i]
        lp = np.log(50) + np.cumsum(r)
        d = choose_d(lp)
        grid = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)
        p = [
            adfuller(np.convolve(lp, ffd_weights(x), "valid"), maxlag=1, autolag=None, result_object=False)[1]
            for x in grid
        ]
        k = grid.index(d)
        assert p[k] < 0.05 and all(q >= 0.05 for q in p[:k]), (phi, d, p)
        chosen.append(d)
    assert chosen[1] > chosen[0], chosen
    with pytest.raises(ValueError, match="at least"):
        choose_d(np.log(50) + np.cumsum(rng.normal(0, 0.001, 20)))

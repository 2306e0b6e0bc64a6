"""The simulated market shows the stylized facts a quant checks first, and is deterministic by seed."""

import numpy as np
import polars as pl
import pytest

from marketdata.simulator import MarketSimulator, SimConfig
from marketdata.validate import validate


def frame(days):
    return pl.concat([pl.from_arrow(d.bars) for d in days])


def rets(df):
    return df.sort(["symbol", "ts"]).with_columns(
        r=(pl.col("close") / pl.col("close").shift(1).over("symbol")).log(),
        day=pl.col("ts").dt.date(),
    )


@pytest.fixture(scope="module")
def market():
    sim = MarketSimulator(SimConfig(symbols=300, days=6, seed=5, regime_shift_day=4))
    days = list(sim.days())
    return sim, days, frame(days)


def test_deterministic_by_seed():
    a = [d.bars for d in MarketSimulator(SimConfig(symbols=40, days=2, seed=9)).days()]
    b = [d.bars for d in MarketSimulator(SimConfig(symbols=40, days=2, seed=9)).days()]
    c = [d.bars for d in MarketSimulator(SimConfig(symbols=40, days=2, seed=10)).days()]
    assert all(x.equals(y) for x, y in zip(a, b, strict=True))
    assert not a[0].equals(c[0])


def test_contract_and_universe(market):
    sim, days, _ = market
    for d in days:
        validate(d.bars, "bars_1m")
    ref = pl.from_arrow(sim.reference())
    assert {"SPY", "XLK", "XLF", "XLE"} <= set(ref["symbol"])
    stocks = ref.filter(~pl.col("is_etf"))
    assert set(stocks["leader"]) <= {s for s in ref["symbol"] if s.startswith("XL")}
    assert ref["sector"].n_unique() == 12  # 11 sectors + "Market" for SPY


def test_fat_tails(market):
    *_, df = market
    r = rets(df).filter(pl.col("day") < pl.col("day").max())["r"].drop_nulls().drop_nans().to_numpy()
    r = r[np.isfinite(r)]
    z = (r - r.mean()) / r.std()
    assert float(np.mean(z**4)) > 6  # a Gaussian gives 3


def test_intraday_u_shape_in_volume_and_spread(market):
    *_, df = market
    df = df.filter(~pl.col("halted")).with_columns(
        minute=((pl.col("ts") - pl.col("ts").min().over(pl.col("ts").dt.date())).dt.total_minutes()),
        spread=(pl.col("ask") - pl.col("bid")) / pl.col("close"),
    )
    by = df.group_by("minute").agg(pl.col("volume").sum(), pl.col("spread").median()).sort("minute")
    vol, spr = by["volume"].to_numpy(), by["spread"].to_numpy()
    mid = slice(150, 240)
    assert vol[:15].mean() > 1.5 * vol[mid].mean() and vol[-15:].mean() > 1.5 * vol[mid].mean()
    assert spr[:10].mean() > 1.3 * spr[mid].mean()


def test_liquidity_ties_spread_and_empty_minutes_to_size(market):
    sim, _, df = market
    ref = pl.from_arrow(sim.reference()).filter(~pl.col("is_etf"))
    per = df.group_by("symbol").agg(
        bars=pl.len(), spread_bps=((pl.col("ask") - pl.col("bid")) / pl.col("close") * 1e4).median()
    )
    j = per.join(ref, on="symbol").with_columns(lc=pl.col("market_cap").log())
    assert np.corrcoef(j["lc"], j["spread_bps"])[0, 1] < -0.5
    assert np.corrcoef(j["lc"], j["bars"])[0, 1] > 0.3
    assert (j["bars"] < 0.8 * 390 * 6).sum() > 10  # illiquid names have minutes with no trade


def test_volatility_clusters_across_days(market):
    *_, df = market
    daily = rets(df).group_by(["symbol", "day"]).agg(rv=pl.col("r").std()).sort(["symbol", "day"])
    wide = daily.pivot(on="day", index="symbol", values="rv").drop("symbol").to_numpy()
    d0, d1 = np.log(wide[:, 1]), np.log(wide[:, 2])
    ok = np.isfinite(d0) & np.isfinite(d1)
    assert np.corrcoef(d0[ok], d1[ok])[0, 1] > 0.3


def test_regime_shift_raises_volatility(market):
    *_, df = market
    daily = rets(df).group_by("day").agg(rv=pl.col("r").std()).sort("day")["rv"].to_numpy()
    assert daily[4:].mean() > 1.3 * daily[1:4].mean()


def test_corporate_actions_show_in_raw_prices():
    sim = MarketSimulator(SimConfig(symbols=200, days=3, seed=2, split_rate=0.01, dividend_rate=0.02))
    days = list(sim.days())
    ca = pl.from_arrow(sim.corporate_actions())
    splits = ca.filter(pl.col("split_ratio") != 1.0)
    assert len(splits) > 0 and (ca["cash_dividend"] > 0).sum() > 0
    df = frame(days)
    for row in splits.iter_rows(named=True):
        s = df.filter(pl.col("symbol") == row["symbol"]).sort("ts")
        before = s.filter(pl.col("ts").dt.date() < row["ex_date"])["close"][-1]
        after = s.filter(pl.col("ts").dt.date() == row["ex_date"])["open"][0]
        assert after / before == pytest.approx(1 / row["split_ratio"], rel=0.15)


def test_halts_have_no_trades(small_market):
    _, days = small_market
    df = frame(days)
    halted = df.filter(pl.col("halted"))
    assert len(halted) > 0
    assert (halted["trades"] == 0).all() and (halted["volume"] == 0).all()
    assert (halted["open"] == halted["close"]).all()


@pytest.mark.parametrize("lead_lag, lo, hi", [(0.0, -0.03, 0.03), (0.4, 0.08, 1.0)])
def test_lead_lag_is_tunable(lead_lag, lo, hi):
    sim = MarketSimulator(SimConfig(symbols=150, days=2, seed=4, lead_lag=lead_lag))
    df = rets(frame(list(sim.days())))
    ref = pl.from_arrow(sim.reference()).select("symbol", "leader", "is_etf")
    lead = df.select(pl.col("symbol").alias("leader"), "ts", lr=pl.col("r"))
    lead = lead.with_columns(ts=(pl.col("ts") + pl.duration(minutes=1)).cast(pl.Datetime("ns", "UTC")))
    j = df.join(ref, on="symbol").filter(~pl.col("is_etf")).join(lead, on=["leader", "ts"]).drop_nulls(["r", "lr"])
    j = j.filter(pl.col("r").is_finite() & pl.col("lr").is_finite())
    c = np.corrcoef(j["r"], j["lr"])[0, 1]
    assert lo <= c <= hi


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"days": 0}, r"days \(--days\) must be at least 1"),
        ({"lead_lag": float("nan")}, r"lead_lag \(--lead-lag\)"),
        ({"lead_lag": 1.5}, r"lead_lag \(--lead-lag\)"),
        ({"days": 3, "regime_shift_day": 3}, r"regime_shift_day \(--regime-shift\) 3 is not one of the 3"),
        ({"regime_shift_day": -1}, r"regime_shift_day"),
        ({"split_rate": -1e-4}, r"split_rate must be a rate >= 0"),
    ],
)
def test_a_config_that_would_not_simulate_what_it_says_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SimConfig(**kwargs)

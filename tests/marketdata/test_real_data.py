"""Real TAQ ticks and real daily corporate actions from ../shared/data (skipped when absent)."""

import datetime as dt
import io
import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from marketdata import loaders
from marketdata.aggregate import aggregate
from marketdata.corporate import back_adjust
from marketdata.schemas import CORPORATE_ACTIONS
from marketdata.validate import validate
from tests.conftest import TAQ_RAW_TZ, shared_data
from tests.marketdata.test_aggregate import compare, pandas_bars


@pytest.fixture(scope="module")
def taq():
    d = shared_data("taq-highfrequency")
    trades = loaders.load(
        str(d / "trades_raw_XXX_2018-01-02_03.parquet"),
        "trades",
        {"ts": "DT", "symbol": "SYMBOL", "price": "PRICE", "size": "SIZE", "exchange": "EX", "correction": "CORR"},
        tz=TAQ_RAW_TZ,
    )
    raw_q = loaders.read_any(str(d / "quotes_raw_XXX_2018-01-02_03.parquet"))
    quotes = loaders.from_table(
        raw_q,
        "quotes",
        {"ts": "DT", "ask": "OFR", "bid_size": "BIDSIZ", "ask_size": "OFRSIZ"},
        tz=TAQ_RAW_TZ,
        size_scale=100,
    )
    nbbo = loaders.consolidate_nbbo(quotes, raw_q.column("EX"))
    keep_t = loaders.regular_session_mask(trades.column("ts"))
    keep_q = loaders.regular_session_mask(nbbo.column("ts"))
    return trades.filter(keep_t), nbbo.filter(keep_q), raw_q


def test_the_raw_clock_is_utc_so_the_session_is_the_real_one(taq):
    """Read in TAQ_RAW_TZ, the kept session opens at 14:30 UTC (09:30 New York in January) with the day's quoting
    at its busiest and tightest, and the largest print, the NYSE closing cross, falls at 16:00 New York."""
    trades, nbbo, _ = taq
    first = trades.column("ts")[0].as_py()
    assert first.tzinfo is not None and first.utcoffset() == dt.timedelta(0)
    assert (first.hour, first.minute) == (14, 30)
    raw = pd.read_parquet(shared_data("taq-highfrequency") / "trades_raw_XXX_2018-01-02_03.parquet")
    ny = raw["DT"].dt.tz_localize(TAQ_RAW_TZ).dt.tz_convert("America/New_York")
    for day, rows in raw.groupby(ny.dt.date):
        close = rows.loc[rows["SIZE"].idxmax()]
        at = close["DT"].tz_localize(TAQ_RAW_TZ).tz_convert("America/New_York")
        assert str(close["COND"]).strip() in {"6", "M"} and (at.hour, at.minute) == (16, 0), (day, at)
    q = nbbo.to_pandas()
    minute = q["ts"].dt.tz_convert("America/New_York").dt.floor("h").dt.hour
    spread = (q["ask"] - q["bid"]).groupby(minute).median()
    assert spread.loc[9] < 0.5 and spread.max() < 0.5  # a liquid ~$158 stock: cents, all session


def test_taq_bars_satisfy_contract_and_match_pandas(taq):
    trades, nbbo, _ = taq
    bars, rejects = aggregate(trades, nbbo)
    validate(bars, "bars_1m")
    assert set(rejects.column("reason").to_pylist()) <= {"crossed quote (bid > ask)", "non-positive or NaN bid/ask"}
    assert rejects.num_rows < 0.2 * nbbo.num_rows
    ref = pandas_bars(trades, nbbo)
    compare(bars, ref)
    per_day = bars.to_pandas().groupby(bars.to_pandas()["ts"].dt.date).size()
    assert (per_day <= 390).all() and (per_day >= 385).all()  # a liquid stock trades nearly every minute
    spread_bps = (
        (bars.column("ask").to_numpy() - bars.column("bid").to_numpy()) / bars.column("close").to_numpy()
    ) * 1e4
    assert 0 < np.nanmedian(spread_bps) < 50


def test_taq_corrections_are_refused_with_their_reason():
    """The sample's two corrected prints (CORR 8 and 10, both outside the regular session) are refused, and only
    they, when the whole day's trades go through the aggregator."""
    d = shared_data("taq-highfrequency")
    cmap = {"ts": "DT", "symbol": "SYMBOL", "price": "PRICE", "size": "SIZE", "exchange": "EX", "correction": "CORR"}
    trades = loaders.load(str(d / "trades_raw_XXX_2018-01-02_03.parquet"), "trades", cmap, tz=TAQ_RAW_TZ)
    corrected = trades.filter(pc.not_equal(trades.column("correction"), 0))
    assert sorted(corrected.column("correction").to_pylist()) == [8, 10]
    _, rejects = aggregate(trades)
    refused = rejects.filter(pc.equal(rejects.column("reason"), "corrected or cancelled by the source"))
    assert sorted(refused.column("seq").to_pylist()) == sorted(corrected.column("seq").to_pylist())


def test_nbbo_matches_a_pandas_book(taq):
    _, nbbo, raw_q = taq
    q = raw_q.to_pandas()
    q["ts"] = q["DT"].dt.tz_localize(TAQ_RAW_TZ).dt.tz_convert("UTC")
    q["row"] = np.arange(len(q))
    q = q.sort_values(["ts", "row"], kind="stable")
    bid = q.pivot_table(index="row", columns="EX", values="BID").reindex(q["row"]).ffill()
    ask = q.pivot_table(index="row", columns="EX", values="OFR").reindex(q["row"]).ffill()
    q["t"] = q["ts"].astype("int64")
    age = q.pivot_table(index="row", columns="EX", values="t").reindex(q["row"]).ffill()
    fresh = (q["t"].to_numpy()[:, None] - age.to_numpy()) <= 5e9
    best_bid = bid.where((bid > 0) & fresh).max(axis=1).fillna(0).to_numpy()
    best_ask = ask.where((ask > 0) & fresh).min(axis=1).fillna(0).to_numpy()
    mask = (q["ts"].dt.tz_convert("America/New_York").dt.time >= dt.time(9, 30)) & (
        q["ts"].dt.tz_convert("America/New_York").dt.time < dt.time(16, 0)
    )
    np.testing.assert_array_equal(nbbo.column("bid").to_numpy(), best_bid[mask.to_numpy()])
    np.testing.assert_array_equal(nbbo.column("ask").to_numpy(), best_ask[mask.to_numpy()])


def test_quandl_aapl_back_adjustment_matches_vendor():
    d = shared_data("daily-corporate-actions")
    with zipfile.ZipFile(d / "QUANDL_ARCHIVE.zip") as z:
        df = pd.read_csv(io.BytesIO(z.read("QUANDL_SAMPLE_TABLE.csv")), parse_dates=["date"])
    aapl = df[df["ticker"] == "AAPL"].sort_values("date")
    acts = aapl[(aapl["split_ratio"] != 1.0) | (aapl["ex-dividend"] > 0)]
    assert ((acts["split_ratio"] == 7.0) & (acts["date"] == "2014-06-09")).any()
    ca = pa.table(
        {
            "symbol": ["AAPL"] * len(acts),
            "ex_date": acts["date"].dt.date.tolist(),
            "split_ratio": acts["split_ratio"].astype(float).tolist(),
            "cash_dividend": acts["ex-dividend"].astype(float).tolist(),
        },
        schema=CORPORATE_ACTIONS,
    )
    hist = pa.table(
        {
            "symbol": ["AAPL"] * len(aapl),
            "date": aapl["date"].dt.date.tolist(),
            "close": aapl["close"].astype(float).tolist(),
            "volume": aapl["volume"].astype(float).tolist(),
        }
    )
    adj = back_adjust(hist, ca).to_pandas()
    # Quandl adjusts to a later date; within the sample our factor and theirs differ by one constant
    ratio = adj["close"].to_numpy() / aapl["adj_close"].to_numpy()
    assert ratio.std() / ratio.mean() < 2e-3
    vol_ratio = adj["volume"].to_numpy() / aapl["adj_volume"].to_numpy()
    assert vol_ratio.std() / vol_ratio.mean() < 1e-6


def test_sp500_visible_splits_disappear_after_adjustment():
    d = shared_data("daily-corporate-actions")
    df = pd.read_csv(d / "SP500_ind.csv", parse_dates=["Date"], date_format="%Y%m%d")
    splits = {"DHR": 2.0, "GIS": 2.0, "STR": 3.0, "ETFC": 0.1}
    for sym, ratio in splits.items():
        s = df[df["Symbol"] == sym].sort_values("Date")
        r = (s["Close"] / s["Close"].shift()).to_numpy()
        jump_at = int(np.nanargmax(np.abs(np.log(r))))
        ex_date = s["Date"].iloc[jump_at].date()
        assert r[jump_at] == pytest.approx(1 / ratio, rel=0.2)  # the split plus that day's move
        ca = pa.table(
            {"symbol": [sym], "ex_date": [ex_date], "split_ratio": [ratio], "cash_dividend": [0.0]},
            schema=CORPORATE_ACTIONS,
        )
        hist = pa.table(
            {"symbol": [sym] * len(s), "date": s["Date"].dt.date.tolist(), "close": s["Close"].astype(float).tolist()}
        )
        adj = back_adjust(hist, ca).to_pandas()["close"].to_numpy()
        assert abs(np.log(adj[jump_at] / adj[jump_at - 1])) < 0.2


def test_the_quandl_archive_lands_as_corporate_actions_straight_from_its_zip(tmp_path):
    """`tickwise ingest corporate-actions QUANDL_ARCHIVE.zip` (one CSV inside; rows without an action skipped):
    AAPL's 7:1 split of 2014-06-09 and its dividends land, as the vendor lists them."""
    from typer.testing import CliRunner

    from marketdata.lake import Lake
    from tickwise.cli import app

    z = shared_data("daily-corporate-actions") / "QUANDL_ARCHIVE.zip"
    m = "symbol=ticker,ex_date=date,split_ratio=split_ratio,cash_dividend=ex-dividend"
    r = CliRunner().invoke(app, ["ingest", "corporate-actions", str(z), "--map", m, "--lake", str(tmp_path)])
    assert r.exit_code == 0, r.output
    ca = Lake(str(tmp_path)).read("corporate_actions").to_pandas()
    aapl = ca[ca["symbol"] == "AAPL"]
    assert (aapl.loc[aapl["split_ratio"] == 7.0, "ex_date"].astype(str) == "2014-06-09").all()
    assert len(aapl[aapl["split_ratio"] == 7.0]) == 1 and (aapl["cash_dividend"] > 0).sum() >= 3

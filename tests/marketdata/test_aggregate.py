"""One aggregator: matches a plain pandas reference, and fed incrementally it equals the batch path."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from marketdata.aggregate import BarAggregator, aggregate
from marketdata.schemas import NS_PER_MIN
from marketdata.validate import validate


def pandas_bars(trades: pa.Table, quotes: pa.Table | None) -> pd.DataFrame:
    """An independent reference: groupby on minute buckets, NBBO by merge_asof."""
    t = trades.to_pandas()
    t = t[(t["price"] > 0) & (t["size"] > 0)]
    if "correction" in t:
        t = t[t["correction"].fillna(0) == 0]
    t = t.sort_values(["symbol", "ts", "seq"]).drop_duplicates(["symbol", "seq"])
    t["end"] = t["ts"].dt.floor("min") + pd.Timedelta(minutes=1)
    t["pv"] = t["price"] * t["size"]
    g = t.groupby(["symbol", "end"])
    out = pd.DataFrame(
        {
            "open": g["price"].first(),
            "high": g["price"].max(),
            "low": g["price"].min(),
            "close": g["price"].last(),
            "volume": g["size"].sum(),
            "trades": g.size(),
        }
    )
    out["vwap"] = g["pv"].sum() / out["volume"]
    out = out.reset_index().rename(columns={"end": "ts"})
    if quotes is not None:
        q = quotes.to_pandas()
        q = q[(q["bid"] > 0) & (q["ask"] > 0) & (q["bid"] <= q["ask"])].sort_values(["ts", "seq"], kind="stable")
        q["ts_q"] = q["ts"] + pd.Timedelta(1, "ns")  # strictly before the bar end
        out = pd.merge_asof(
            out.sort_values("ts", kind="stable"),
            q[["symbol", "ts_q", "bid", "ask", "bid_size", "ask_size"]]
            .rename(columns={"ts_q": "ts"})
            .sort_values("ts", kind="stable"),
            on="ts",
            by="symbol",
            allow_exact_matches=True,
        )
    return out.sort_values(["ts", "symbol"]).reset_index(drop=True)


def compare(bars: pa.Table, ref: pd.DataFrame) -> None:
    b = bars.to_pandas()
    b = b[b["trades"] > 0].sort_values(["ts", "symbol"]).reset_index(drop=True)
    assert len(b) == len(ref)
    assert (b["symbol"].values == ref["symbol"].values).all()
    assert (b["ts"].values == ref["ts"].values).all()
    for c in ("open", "high", "low", "close", "volume", "trades"):
        np.testing.assert_array_equal(b[c].values, ref[c].values, err_msg=c)
    np.testing.assert_allclose(b["vwap"].values, ref["vwap"].values, rtol=1e-12)
    for c in ("bid", "ask", "bid_size", "ask_size"):
        if c in ref:
            np.testing.assert_array_equal(b[c].values, ref[c].values, err_msg=c)


def test_matches_pandas_reference_on_simulated_ticks(tick_day):
    day, trades, quotes = tick_day
    bars, rejects = aggregate(trades, quotes, day.halts)
    validate(bars, "bars_1m")
    assert rejects.num_rows == 0
    compare(bars, pandas_bars(trades, quotes))
    # halted minutes are flagged and carry no trades
    assert bars.filter(bars.column("halted")).num_rows == day.bars.filter(day.bars.column("halted")).num_rows


def test_incremental_equals_batch(tick_day):
    """Feed the day in arrival-order micro-batches, finalizing at every minute: the same bars as one batch."""
    day, trades, quotes = tick_day
    batch, _ = aggregate(trades, quotes, day.halts)
    agg = BarAggregator()
    agg.add_halts(day.halts)
    t_ns = trades.column("ts").cast(pa.int64()).to_numpy()
    q_ns = quotes.column("ts").cast(pa.int64()).to_numpy()
    start = min(t_ns.min(), q_ns.min()) // NS_PER_MIN * NS_PER_MIN
    end = (max(t_ns.max(), q_ns.max()) // NS_PER_MIN + 1) * NS_PER_MIN
    out = []
    rng = np.random.default_rng(1)
    for lo in range(int(start), int(end), NS_PER_MIN // 4):  # 15-second polls
        hi = lo + NS_PER_MIN // 4
        tsel, qsel = (t_ns >= lo) & (t_ns < hi), (q_ns >= lo) & (q_ns < hi)
        agg.add_trades(trades.filter(pa.array(tsel)))
        agg.add_quotes(quotes.filter(pa.array(qsel)))
        if rng.random() < 0.3 or hi % NS_PER_MIN == 0:
            out.append(agg.finalize(hi // NS_PER_MIN * NS_PER_MIN))
    out.append(agg.finalize(end))
    inc = pa.concat_tables(out)
    assert inc.equals(batch)


def test_rejects_duplicates_late_bad_and_corrected(tick_day):
    _, trades, quotes = tick_day
    first = trades.slice(0, 2000)
    agg = BarAggregator()
    agg.add_trades(first)
    agg.add_trades(first.slice(0, 10))  # exact duplicates
    bad = first.slice(10, 3).set_column(2, "price", pa.array([0.0, np.nan, -5.0]))
    bad = bad.set_column(4, "seq", pa.array([10**9, 10**9 + 1, 10**9 + 2], pa.int64()))
    agg.add_trades(bad)
    corr = first.slice(20, 1).set_column(4, "seq", pa.array([10**9 + 3], pa.int64()))
    corr = corr.set_column(6, "correction", pa.array([8], pa.int8()))
    agg.add_trades(corr)
    wm = (int(first.column("ts").cast(pa.int64()).to_numpy().max()) // NS_PER_MIN + 1) * NS_PER_MIN
    agg.finalize(wm)
    late = first.slice(0, 5).set_column(4, "seq", pa.array(np.arange(5) + 2 * 10**9, pa.int64()))
    agg.add_trades(late)
    crossed = quotes.slice(0, 1).set_column(2, "bid", pa.array([quotes.column("ask")[0].as_py() + 1]))
    agg.add_quotes(crossed)
    rej = agg.drain_rejects().to_pandas()
    counts = rej["reason"].value_counts().to_dict()
    assert counts["duplicate (symbol, seq)"] == 10
    assert counts["non-positive or NaN price"] == 3
    assert counts["corrected or cancelled by the source"] == 1
    assert counts["event time behind watermark"] == 5
    assert counts["crossed quote (bid > ask)"] == 1
    assert agg.drain_rejects().num_rows == 0


def test_watermark_cannot_go_back():
    agg = BarAggregator()
    agg.finalize(10 * NS_PER_MIN)
    with pytest.raises(ValueError, match="backwards"):
        agg.finalize(5 * NS_PER_MIN)

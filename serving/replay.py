"""The embedded default: replay a lake day through the scorer in-process, minute by minute."""

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marketdata.lake import Lake
from marketdata.schemas import NS_PER_MIN
from serving.scorer import CycleResult, Scorer


def replay_day(scorer: Scorer, lake: Lake, day: dt.date, use_ticks: bool | None = None) -> list[CycleResult]:
    """Feed ``day`` from ``lake``: ticks minute by minute when the lake has them (the aggregator builds bars),
    else the day's bars; every minute advances the watermark to the minute's end."""
    ticks = lake.exists("trades") and day in lake.dates("trades") if use_ticks is None else use_ticks
    out: list[CycleResult] = []
    if ticks:
        trades = lake.read("trades", [day]).sort_by("ts")  # the lake keeps (symbol, ts) order; arrival is by time
        quotes = lake.read("quotes", [day]).sort_by("ts") if lake.exists("quotes") else None
        halts = lake.read("halts", [day]) if lake.exists("halts") and day in lake.dates("halts") else None
        scorer.add_ticks(halts=halts)
        t_ns = trades.column("ts").cast(pa.int64()).to_numpy()
        q_ns = quotes.column("ts").cast(pa.int64()).to_numpy() if quotes is not None else np.empty(0, np.int64)
        lo = min(t_ns.min(), q_ns.min() if len(q_ns) else t_ns.min()) // NS_PER_MIN * NS_PER_MIN
        hi = (max(t_ns.max(), q_ns.max() if len(q_ns) else 0) // NS_PER_MIN + 2) * NS_PER_MIN
        ti = np.searchsorted(t_ns, np.arange(lo, hi + 1, NS_PER_MIN))
        qi = np.searchsorted(q_ns, np.arange(lo, hi + 1, NS_PER_MIN))
        for k, m in enumerate(range(int(lo), int(hi), NS_PER_MIN)):
            scorer.add_ticks(
                trades.slice(ti[k], ti[k + 1] - ti[k]),
                quotes.slice(qi[k], qi[k + 1] - qi[k]) if quotes is not None else None,
            )
            out.extend(scorer.advance(m + NS_PER_MIN))
            scorer.idle()
        return out
    bars = lake.read("bars_1m", [day])
    ts = bars.column("ts").cast(pa.int64())
    for m in np.unique(ts.to_numpy()):
        out.extend(scorer.advance(int(m), bars.filter(pc.equal(ts, int(m)))))
        scorer.idle()
    return out

"""Trades and quotes for simulated bars: what a consolidated feed would have printed inside each minute.

Trades print at the bid or the ask around a Brownian bridge between the bar's open and close mid, at uniformly
spread times, in cents; quotes update several times a minute and the last one sits at the minute's close mid.
Aggregating these ticks gives bars with real bid-ask bounce.
"""

import numpy as np
import pyarrow as pa

from marketdata.schemas import NS_PER_MIN, QUOTES, TRADES, TS
from marketdata.simulator import SimDay


def ticks_for_day(day: SimDay, rng: np.random.Generator) -> tuple[pa.Table, pa.Table]:
    """``(trades, quotes)`` for one simulated session."""
    bars = day.bars
    live = ~bars.column("halted").to_numpy()
    sym = bars.column("symbol").to_numpy(zero_copy_only=False)[live]
    end = bars.column("ts").cast(pa.int64()).to_numpy()[live]
    n = bars.column("trades").to_numpy()[live].astype(np.int64)
    o, c = day.open_mid[live], bars.column("close").to_numpy()[live]
    sigma, half = day.sigma[live], day.half_spread[live]
    trades = _trades(rng, sym, end, n, o, c, sigma, half, bars.column("volume").to_numpy()[live])
    quotes = _quotes(rng, sym, end, o, c, half, bars)
    return trades, quotes


def _seq(sym: np.ndarray) -> np.ndarray:
    """A per-symbol running sequence number in the given (time) order."""
    order = np.argsort(sym, kind="stable")
    s = sym[order]
    new = np.ones(len(s), bool)
    new[1:] = s[1:] != s[:-1]
    starts = np.flatnonzero(new)
    run = np.arange(len(s)) - np.repeat(starts, np.diff(np.append(starts, len(s))))
    out = np.empty(len(s), np.int64)
    out[order] = run + 1
    return out


def _trades(rng, sym, end, n, o, c, sigma, half, volume) -> pa.Table:  # type: ignore[no-untyped-def]
    row = np.repeat(np.arange(len(n)), n)
    u = rng.random(len(row))
    order = np.lexsort((u, row))
    row, u = row[order], u[order]
    bridge = o[row] + (c[row] - o[row]) * u
    bridge *= 1 + sigma[row] * np.sqrt(u * (1 - u)) * rng.standard_normal(len(row))
    side = np.where(rng.random(len(row)) < 0.5, -1.0, 1.0)
    price = np.maximum(np.round(bridge + side * half[row], 2), 0.01)
    size = np.maximum(1, np.round(rng.exponential(1, len(row)) * volume[row] / np.maximum(n[row], 1)))
    ts = end[row] - NS_PER_MIN + (u * (NS_PER_MIN - 1)).astype(np.int64)
    tord = np.argsort(ts, kind="stable")
    sym_t = sym[row][tord]
    return pa.table(
        {
            "symbol": pa.array(sym_t, pa.string()),
            "ts": pa.array(ts[tord], pa.int64()).cast(TS),
            "price": price[tord],
            "size": size[tord],
            "seq": _seq(sym_t),
            "exchange": pa.nulls(len(tord), pa.string()),
            "correction": pa.array(np.zeros(len(tord), np.int8)),
        },
        schema=TRADES,
    )


def _quotes(rng, sym, end, o, c, half, bars) -> pa.Table:  # type: ignore[no-untyped-def]
    k = 1 + rng.poisson(2.0, len(end))
    row = np.repeat(np.arange(len(end)), k)
    u = rng.random(len(row))
    order = np.lexsort((u, row))
    row, u = row[order], u[order]
    last = np.append(row[1:] != row[:-1], True)
    u[last] = 0.999  # the last quote of the minute is at the close mid
    mid = o[row] + (c[row] - o[row]) * u
    bid = np.maximum(np.floor((mid - half[row]) * 100) / 100, 0.01)
    ask = np.maximum(np.ceil((mid + half[row]) * 100) / 100, bid + 0.01)
    live = ~bars.column("halted").to_numpy()
    bsz = bars.column("bid_size").to_numpy(zero_copy_only=False)[live][row]
    asz = bars.column("ask_size").to_numpy(zero_copy_only=False)[live][row]
    jitter = np.exp(rng.normal(0, 0.3, (2, len(row))))
    ts = end[row] - NS_PER_MIN + (u * (NS_PER_MIN - 1)).astype(np.int64)
    tord = np.argsort(ts, kind="stable")
    sym_q = sym[row][tord]
    return pa.table(
        {
            "symbol": pa.array(sym_q, pa.string()),
            "ts": pa.array(ts[tord], pa.int64()).cast(TS),
            "bid": bid[tord],
            "ask": ask[tord],
            "bid_size": np.round(bsz * jitter[0], -2)[tord].clip(100),
            "ask_size": np.round(asz * jitter[1], -2)[tord].clip(100),
            "seq": _seq(sym_q),
        },
        schema=QUOTES,
    )

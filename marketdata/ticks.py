"""Trades and quotes for simulated bars: what a consolidated feed would have printed inside each minute.

Trades print at the bid or the ask around a Brownian bridge between the bar's open and close mid, in cents; quotes
update through the minute and the last one sits at the minute's close mid. Aggregating these ticks gives bars with
real bid-ask bounce.

How many ticks, and when (:class:`TickRates`), follows a real feed: a name's trades follow its liquidity (the
simulator's per-name rate, tied to market cap: a heavy tail, the top names printing 10-100x the median) and the
intraday U-shape of volume; quotes come at ``quotes_per_trade`` times the trades; and ticks arrive in bursts — a
name's ticks in clusters (a sweep, a quote flurry), the market's seconds of uneven intensity — rather than evenly.
The defaults are calibrated against the real TAQ sample in ../shared/data (``scripts/tick_calibration.py`` prints
both side by side; ``tests/marketdata/test_tick_rates.py`` holds them to it).
"""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from marketdata.schemas import NS_PER_MIN, QUOTES, TRADES, TS
from marketdata.simulator import SimDay


@dataclass(frozen=True)
class TickRates:
    """How many ticks a simulated minute prints, and when."""

    quotes_per_trade: float = 1.7  # the TAQ sample: 130,618 quotes to 76,812 trades in its sessions
    scale: float = 1.0  # every name's trades and quotes times this (a benchmark's target rate)
    cluster: float = 8.0  # mean ticks per burst of one name
    burst_sigma: float = 1.3  # the market's intensity second by second: lognormal with this sigma

    def __post_init__(self) -> None:
        for name in ("quotes_per_trade", "scale", "cluster", "burst_sigma"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"TickRates.{name} must be >= 0, got {getattr(self, name)}")


def ticks_for_day(day: SimDay, rng: np.random.Generator, rates: TickRates | None = None) -> tuple[pa.Table, pa.Table]:
    """``(trades, quotes)`` for one simulated session."""
    rates = rates or TickRates()
    bars = day.bars
    live = ~bars.column("halted").to_numpy()
    enc = bars.column("symbol").combine_chunks().dictionary_encode()
    sym = (enc.dictionary, enc.indices.to_numpy(zero_copy_only=False)[live].astype(np.int64))  # names, codes
    end = bars.column("ts").cast(pa.int64()).to_numpy()[live]
    n = bars.column("trades").to_numpy()[live].astype(np.int64)
    if rates.scale != 1.0:
        n = rng.poisson(n * rates.scale)
    o, c = day.open_mid[live], bars.column("close").to_numpy()[live]
    sigma, half = day.sigma[live], day.half_spread[live]
    weights = _second_weights(rng, end, rates.burst_sigma)
    trades = _trades(rng, sym, end, n, o, c, sigma, half, bars.column("volume").to_numpy()[live], rates, weights)
    quotes = _quotes(rng, sym, end, o, c, half, bars, n, rates, weights)
    return trades, quotes


def _second_weights(rng: np.random.Generator, end: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The market's intensity over the 60 seconds of each minute (cumulative, per minute), and each bar's minute."""
    minutes, at = np.unique(end, return_inverse=True)
    w = np.exp(sigma * rng.standard_normal((len(minutes), 60)))
    cum = np.cumsum(w, axis=1)
    return cum / cum[:, -1:], at


def _times(rng, k: np.ndarray, weights: tuple[np.ndarray, np.ndarray], cluster: float) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """For bars printing ``k`` ticks each: every tick's bar and its time in the minute, a fraction in [0, 1)."""
    cum, minute = weights
    row = np.repeat(np.arange(len(k)), k)
    if not len(row):
        return row, np.empty(0)
    n_cl = np.maximum(1, np.ceil(k / max(cluster, 1.0)).astype(np.int64))  # bursts per bar
    first = np.r_[0, np.cumsum(n_cl)[:-1]]
    cl_row = np.repeat(np.arange(len(k)), n_cl)
    m = minute[cl_row]  # each burst's second: drawn from its minute's intensities (one sorted array for all minutes)
    flat = (cum + np.arange(len(cum))[:, None]).ravel()
    sec = np.searchsorted(flat, m + rng.random(len(cl_row))) - 60 * m
    centre = (np.clip(sec, 0, 59) + rng.random(len(cl_row))) / 60
    tick_cl = first[row] + (rng.random(len(row)) * n_cl[row]).astype(np.int64)
    u = centre[tick_cl] + np.abs(rng.normal(0, 0.002, len(row)))  # a burst spreads over ~100 ms
    return row, np.minimum(u, 0.9999)


def _seq(sym: np.ndarray) -> np.ndarray:
    """A per-symbol running sequence number in the given (time) order (``sym``: symbol codes)."""
    order = np.argsort(sym, kind="stable")
    s = sym[order]
    new = np.ones(len(s), bool)
    new[1:] = s[1:] != s[:-1]
    starts = np.flatnonzero(new)
    run = np.arange(len(s)) - np.repeat(starts, np.diff(np.append(starts, len(s))))
    out = np.empty(len(s), np.int64)
    out[order] = run + 1
    return out


def _trades(rng, sym, end, n, o, c, sigma, half, volume, rates, weights) -> pa.Table:  # type: ignore[no-untyped-def]
    row, u = _times(rng, n, weights, rates.cluster)
    order = np.lexsort((u, row))
    row, u = row[order], u[order]
    bridge = o[row] + (c[row] - o[row]) * u
    bridge *= 1 + sigma[row] * np.sqrt(u * (1 - u)) * rng.standard_normal(len(row))
    side = np.where(rng.random(len(row)) < 0.5, -1.0, 1.0)
    price = np.maximum(np.round(bridge + side * half[row], 2), 0.01)
    size = np.maximum(1, np.round(rng.exponential(1, len(row)) * volume[row] / np.maximum(n[row], 1)))
    ts = end[row] - NS_PER_MIN + (u * (NS_PER_MIN - 1)).astype(np.int64)
    tord = np.argsort(ts, kind="stable")
    names, codes = sym
    sym_t = codes[row][tord]
    return pa.table(
        {
            "symbol": names.take(pa.array(sym_t)),
            "ts": pa.array(ts[tord], pa.int64()).cast(TS),
            "price": price[tord],
            "size": size[tord],
            "seq": _seq(sym_t),
            "exchange": pa.nulls(len(tord), pa.string()),
            "correction": pa.array(np.zeros(len(tord), np.int8)),
        },
        schema=TRADES,
    )


def _quotes(rng, sym, end, o, c, half, bars, n, rates, weights) -> pa.Table:  # type: ignore[no-untyped-def]
    k = 1 + rng.poisson(rates.quotes_per_trade * n)  # the last quote of each minute, at its close mid, and more
    row, u = _times(rng, k, weights, rates.cluster)
    order = np.lexsort((u, row))
    row, u = row[order], u[order]
    last = np.append(row[1:] != row[:-1], True)
    u[last] = 0.99995  # the last quote of the minute is at the close mid
    mid = o[row] + (c[row] - o[row]) * u
    bid = np.maximum(np.floor((mid - half[row]) * 100) / 100, 0.01)
    ask = np.maximum(np.ceil((mid + half[row]) * 100) / 100, bid + 0.01)
    live = ~bars.column("halted").to_numpy()
    bsz = bars.column("bid_size").to_numpy(zero_copy_only=False)[live][row]
    asz = bars.column("ask_size").to_numpy(zero_copy_only=False)[live][row]
    jitter = np.exp(rng.normal(0, 0.3, (2, len(row))))
    ts = end[row] - NS_PER_MIN + (u * (NS_PER_MIN - 1)).astype(np.int64)
    tord = np.argsort(ts, kind="stable")
    names, codes = sym
    sym_q = codes[row][tord]
    return pa.table(
        {
            "symbol": names.take(pa.array(sym_q)),
            "ts": pa.array(ts[tord], pa.int64()).cast(TS),
            "bid": bid[tord],
            "ask": ask[tord],
            "bid_size": np.round(bsz * jitter[0], -2)[tord].clip(100),
            "ask_size": np.round(asz * jitter[1], -2)[tord].clip(100),
            "seq": _seq(sym_q),
        },
        schema=QUOTES,
    )

"""Random bar streams with the awkward cases: missing bars, halts, a split, a dividend, a late joiner.

What the engine's parity and future-poisoning tests run on, and :mod:`features.audit` runs a researcher's own
kernels on; :func:`scramble_after` is the poisoning."""

import datetime as dt

import numpy as np
import pyarrow as pa

from marketdata.calendar import bar_stamps, sessions
from marketdata.schemas import BARS_1M, CORPORATE_ACTIONS, REFERENCE, TS


def random_stream(
    seed: int = 0, n_symbols: int = 8, days: int = 2, minutes: int | None = 60
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Bars for SPY, one sector ETF and stocks over ``days`` sessions (the first ``minutes`` of each)."""
    rng = np.random.default_rng(seed)
    syms = ["SPY", "XLK"] + [f"S{i:02d}" for i in range(n_symbols - 2)]
    dates = sessions(dt.date(2026, 3, 2), days)
    price = rng.uniform(20, 200, n_symbols)
    rows: dict[str, list] = {
        k: []
        for k in (
            "symbol",
            "ts",
            "open",
            "high",
            "low",
            "close",
            "volume",
            "vwap",
            "trades",
            "bid",
            "ask",
            "bid_size",
            "ask_size",
            "halted",
        )
    }
    split_sym, div_sym = syms[3], syms[4]
    late = syms[-1]
    actions = []
    for di, d in enumerate(dates):
        stamps = bar_stamps(d)[:minutes]
        if di == 1:
            price[3] /= 2.0
            price[4] -= 0.5
            actions += [(split_sym, d, 2.0, 0.0), (div_sym, d, 1.0, 0.5)]
        halt_sym = rng.integers(2, n_symbols)
        halt_at = rng.integers(5, len(stamps) - 10)
        for ti, t in enumerate(stamps):
            r = rng.standard_t(4, n_symbols) * 0.002
            o = price.copy()
            price = price * np.exp(r)
            for i, s in enumerate(syms):
                if s == late and di == 0 and ti < len(stamps) // 2:
                    continue
                halted = s == syms[halt_sym] and halt_at <= ti < halt_at + 4
                if not halted and rng.random() < 0.15 and s not in ("SPY",):
                    continue  # no trade this minute
                c = o[i] if halted else price[i]
                hi = max(o[i], c) * (1 + (0 if halted else abs(rng.normal(0, 0.001))))
                lo = min(o[i], c) * (1 - (0 if halted else abs(rng.normal(0, 0.001))))
                quote = rng.random() > 0.05
                rows["symbol"].append(s)
                rows["ts"].append(int(t))
                rows["open"].append(o[i])
                rows["high"].append(hi)
                rows["low"].append(lo)
                rows["close"].append(c)
                rows["volume"].append(0.0 if halted else float(rng.integers(1, 5000)))
                rows["vwap"].append((hi + lo + c) / 3)
                rows["trades"].append(0 if halted else int(rng.integers(1, 50)))
                rows["bid"].append(c * 0.999 if quote else None)
                rows["ask"].append(c * 1.001 if quote else None)
                rows["bid_size"].append(float(rng.integers(1, 50) * 100) if quote else None)
                rows["ask_size"].append(float(rng.integers(1, 50) * 100) if quote else None)
                rows["halted"].append(bool(halted))
            if halt_at <= ti < halt_at + 4:
                price[halt_sym] = o[halt_sym] if ti == halt_at else price[halt_sym]
    cols = dict(rows)
    cols["ts"] = pa.array(rows["ts"], pa.int64()).cast(TS)
    bars = pa.table(cols, schema=BARS_1M)
    ref = pa.table(
        {
            "symbol": syms,
            "sector": ["Market", "Technology"] + ["Technology"] * (n_symbols - 2),
            "market_cap": [1e12] * n_symbols,
            "is_etf": [True, True] + [False] * (n_symbols - 2),
            "leader": ["SPY", "SPY"] + ["XLK"] * (n_symbols - 2),
        },
        schema=REFERENCE,
    )
    ca = pa.table(
        {
            "symbol": [a[0] for a in actions],
            "ex_date": [a[1] for a in actions],
            "split_ratio": [a[2] for a in actions],
            "cash_dividend": [a[3] for a in actions],
        },
        schema=CORPORATE_ACTIONS,
    )
    return bars, ref, ca


def scramble_after(bars: pa.Table, cut: int, seed: int) -> pa.Table:
    """``bars`` with everything stamped after ``cut`` (ns) rewritten: prices rescaled at random (highs up, lows
    down), sizes redrawn, halts flipped, and a fifth of those bars dropped. Nothing at or before ``cut`` changes,
    so no feature value at or before it may."""
    rng = np.random.default_rng(seed)
    ts = bars.column("ts").cast(pa.int64()).to_numpy()
    after = ts > cut
    cols = {}
    for name in bars.column_names:
        col = bars.column(name).to_numpy(zero_copy_only=False)
        if name in ("open", "high", "low", "close", "vwap", "bid", "ask"):
            scale = rng.uniform(0.5, 2.0, after.sum())
            col = col.astype(float).copy()
            col[after] = col[after] * scale
            if name == "high":
                col[after] *= 2.5
            if name == "low":
                col[after] *= 0.2
        elif name in ("volume", "bid_size", "ask_size"):
            col = col.astype(float).copy()
            col[after] = rng.uniform(0, 1e5, after.sum())
        elif name == "halted":
            col = col.copy()
            col[after] = rng.random(after.sum()) < 0.3
        cols[name] = col
    out = {
        k: pa.array(v, bars.schema.field(k).type) if k not in ("ts", "symbol") else bars.column(k)
        for k, v in cols.items()
    }
    t = pa.table(out, schema=bars.schema)
    keep = ~(after & (rng.random(len(after)) < 0.2))  # some future bars are dropped too
    return t.filter(pa.array(keep))

"""User bar files into the bars_1m contract: derive what vendors' minute files usually lack."""

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marketdata.loaders import from_table, regular_session_mask, to_utc
from marketdata.schemas import BARS_1M, NS_PER_MIN

DERIVED = {"vwap", "trades", "halted", "volume"}


def complete_bars(
    raw: pa.Table,
    mapping: Mapping[str, str],
    tz: str = "UTC",
    price_scale: float = 1.0,
    size_scale: float = 1.0,
    symbol: str | None = None,
    source: str = "<bars>",
    stamp: str = "start",
) -> pa.Table:
    """Map and validate a bar file; fill ``vwap`` (typical price), ``trades`` (0 = unknown), ``halted`` (false),
    ``volume`` (0 when absent), and move start-stamped bars to the contract's end stamp."""
    if stamp not in ("start", "end"):
        raise ValueError(f"--stamp must be 'start' or 'end', got {stamp!r}")
    lower = {c.lower() for c in raw.column_names}
    have = set(mapping) | {f.name for f in BARS_1M if f.name in lower}
    n = raw.num_rows
    extra: dict[str, pa.Array] = {}
    if "volume" not in have:
        extra["volume"] = pa.array([0.0] * n)
    if "trades" not in have:
        extra["trades"] = pa.array([0] * n, pa.int32())
    if "halted" not in have:
        extra["halted"] = pa.array([False] * n)
    t = raw
    for k, v in extra.items():
        t = t.append_column(f"__{k}", v)
    m = dict(mapping) | {k: f"__{k}" for k in extra}
    if "vwap" not in have:
        hi, lo, cl = (raw.column(mapping.get(k) or _find(raw, k)) for k in ("high", "low", "close"))
        t = t.append_column("__vwap", pc.divide(pc.add(pc.add(hi, lo), cl).cast(pa.float64()), 3.0))
        m["vwap"] = "__vwap"
    return _from(t, m, tz, price_scale, size_scale, symbol, source, stamp)


def _find(raw: pa.Table, name: str) -> str:
    for c in raw.column_names:
        if c.lower() == name:
            return c
    hint = (
        "; for close-only bars map the close to it too (--map open=X,high=X,low=X,close=X): the range then "
        "reads zero and ATR falls back to close-to-close moves"
        if name in ("open", "high", "low")
        else ""
    )
    raise ValueError(f"bars need a {name!r} column (map one with --map {name}=COLUMN){hint}")


def _from(t, m, tz, price_scale, size_scale, symbol, source, stamp) -> pa.Table:  # type: ignore[no-untyped-def]
    if stamp == "start":
        ts_col = m.get("ts") or _find(t, "ts")
        shifted = pc.add(to_utc(t.column(ts_col), tz, source, ts_col).cast(pa.int64()), NS_PER_MIN)
        t = t.append_column("__ts_end", shifted.cast(pa.timestamp("ns", tz="UTC")))
        m = dict(m) | {"ts": "__ts_end"}
    return from_table(t, "bars_1m", m, tz, price_scale, size_scale, symbol, source)


def in_session(bars: pa.Table) -> np.ndarray:
    """True for the bars inside a regular NYSE session: a bar stamped ``ts`` covers ``[ts - 60 s, ts)``, so it is
    the minute that starts at ``ts - 60 s`` that must lie in the session (09:31 ... the close, by end stamps)."""
    start = pc.subtract(bars.column("ts").cast(pa.int64()), NS_PER_MIN).cast(pa.timestamp("ns", tz="UTC"))
    return regular_session_mask(pa.chunked_array([start]))

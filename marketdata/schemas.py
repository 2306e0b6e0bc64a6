"""Arrow schemas of every dataset in the data contract (DESIGN.md, "Data contracts").

All times are UTC ``timestamp[ns, tz=UTC]``. A 1-minute bar stamped ``ts`` covers event times in
``[ts - 60 s, ts)``: ``ts`` is the bar's end, the first instant at which the bar is known.
"""

import pyarrow as pa

TS = pa.timestamp("ns", tz="UTC")
NS_PER_MIN = 60_000_000_000

TRADES = pa.schema(
    [
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("ts", TS, nullable=False),
        pa.field("price", pa.float64(), nullable=False),
        pa.field("size", pa.float64(), nullable=False),
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("exchange", pa.string()),
        # 0 = regular; non-zero = the source marks the print corrected or cancelled (TAQ CORR), never applied.
        pa.field("correction", pa.int8()),
    ]
)

QUOTES = pa.schema(
    [
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("ts", TS, nullable=False),
        pa.field("bid", pa.float64(), nullable=False),
        pa.field("ask", pa.float64(), nullable=False),
        pa.field("bid_size", pa.float64(), nullable=False),
        pa.field("ask_size", pa.float64(), nullable=False),
        pa.field("seq", pa.int64(), nullable=False),
    ]
)

BARS_1M = pa.schema(
    [
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("ts", TS, nullable=False),
        pa.field("open", pa.float64(), nullable=False),
        pa.field("high", pa.float64(), nullable=False),
        pa.field("low", pa.float64(), nullable=False),
        pa.field("close", pa.float64(), nullable=False),
        pa.field("volume", pa.float64(), nullable=False),
        pa.field("vwap", pa.float64(), nullable=False),
        pa.field("trades", pa.int32(), nullable=False),
        pa.field("bid", pa.float64()),
        pa.field("ask", pa.float64()),
        pa.field("bid_size", pa.float64()),
        pa.field("ask_size", pa.float64()),
        pa.field("halted", pa.bool_(), nullable=False),
    ]
)

CORPORATE_ACTIONS = pa.schema(
    [
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("ex_date", pa.date32(), nullable=False),
        pa.field("split_ratio", pa.float64(), nullable=False),
        pa.field("cash_dividend", pa.float64(), nullable=False),
    ]
)

REFERENCE = pa.schema(
    [
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("sector", pa.string(), nullable=False),
        pa.field("market_cap", pa.float64(), nullable=False),
        pa.field("is_etf", pa.bool_(), nullable=False),
        pa.field("leader", pa.string(), nullable=False),
    ]
)

# Trading halts as intervals: the aggregator marks every bar whose window overlaps one as halted.
HALTS = pa.schema(
    [
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("start", TS, nullable=False),
        pa.field("end", TS, nullable=False),
        pa.field("reason", pa.string()),
    ]
)

# Ticks the aggregator or a loader refused, with why. Nothing is dropped silently.
REJECTS = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("symbol", pa.string()),
        pa.field("ts", TS),
        pa.field("seq", pa.int64()),
        pa.field("reason", pa.string(), nullable=False),
    ]
)

SIGNALS = pa.schema(
    [
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("ts", TS, nullable=False),
        pa.field("p_up", pa.float32(), nullable=False),
        pa.field("model_version", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
    ]
)

LABELS = pa.schema(
    [
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("ts", TS, nullable=False),
        pa.field("t1", TS, nullable=False),
        pa.field("label", pa.int8(), nullable=False),
        pa.field("ret", pa.float64(), nullable=False),
        pa.field("weight", pa.float64(), nullable=False),
    ]
)

# A user-supplied volatility index series (VIX): the value and when it became known. Unpartitioned.
VIX = pa.schema([pa.field("ts", TS, nullable=False), pa.field("value", pa.float64(), nullable=False)])

SCHEMAS: dict[str, pa.Schema] = {
    "trades": TRADES,
    "quotes": QUOTES,
    "bars_1m": BARS_1M,
    "corporate_actions": CORPORATE_ACTIONS,
    "reference": REFERENCE,
    "halts": HALTS,
    "rejects": REJECTS,
    "signals": SIGNALS,
    "labels": LABELS,
    "vix": VIX,
}

# Datasets partitioned by day in the lake, and the column that decides the partition.
PARTITION_COLUMN = {
    "trades": "ts",
    "quotes": "ts",
    "bars_1m": "ts",
    "halts": "start",
    "rejects": "ts",
    "signals": "ts",
    "labels": "ts",
}


def schema_for(dataset: str) -> pa.Schema:
    """The contract schema of ``dataset``; a clear error naming the known datasets otherwise."""
    try:
        return SCHEMAS[dataset]
    except KeyError:
        raise KeyError(f"unknown dataset {dataset!r}; known: {', '.join(sorted(SCHEMAS))}") from None

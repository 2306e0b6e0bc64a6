"""The Kafka tick payload: one compact JSON object per tick, times as integer UTC nanoseconds.

Why JSON and not Arrow/Avro per tick: ticks are ~90 bytes, keyed by symbol, and must be debuggable with any
consumer; batches of scored rows use Arrow IPC instead. :func:`decode` raises :class:`BadTick` with a reason,
which the consumer dead-letters with topic, partition and offset.
"""

import json
import math

import pyarrow as pa

from marketdata.schemas import QUOTES, TRADES

FIELDS = {
    "trades": (("symbol", str), ("ts", int), ("price", float), ("size", float), ("seq", int)),
    "quotes": (
        ("symbol", str),
        ("ts", int),
        ("bid", float),
        ("ask", float),
        ("bid_size", float),
        ("ask_size", float),
        ("seq", int),
    ),
}
SCHEMAS = {"trades": TRADES, "quotes": QUOTES}


class BadTick(ValueError):
    """A message that cannot become a tick; the text is the dead-letter reason."""


def encode_rows(kind: str, table: pa.Table) -> list[tuple[bytes, bytes]]:
    """``(key, value)`` pairs for every row of a trades or quotes table (key = symbol)."""
    names = [f for f, _ in FIELDS[kind]]
    cols = {n: (table.column(n).cast(pa.int64()) if n == "ts" else table.column(n)).to_pylist() for n in names}
    out = []
    for i in range(table.num_rows):
        row = {n: cols[n][i] for n in names}
        out.append((row["symbol"].encode(), json.dumps(row, separators=(",", ":")).encode()))
    return out


def decode(kind: str, value: bytes) -> dict:
    """Parse one message into a tick dict, or raise :class:`BadTick` naming what is wrong."""
    try:
        obj = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadTick(f"malformed payload: {e.__class__.__name__}") from None
    if not isinstance(obj, dict):
        raise BadTick("payload is not a JSON object")
    out = {}
    for name, typ in FIELDS[kind]:
        if name not in obj or obj[name] is None:
            raise BadTick(f"missing field {name!r}")
        v = obj[name]
        if typ is int and (isinstance(v, bool) or not isinstance(v, int)):
            raise BadTick(f"field {name!r} must be an integer")
        if typ is float:
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise BadTick(f"field {name!r} must be a finite number")
            v = float(v)
        if typ is str and (not isinstance(v, str) or not v):
            raise BadTick(f"field {name!r} must be a non-empty string")
        out[name] = v
    return out


def to_table(kind: str, ticks: list[dict]) -> pa.Table:
    """Decoded ticks as a contract table (times back to timestamps)."""
    schema = SCHEMAS[kind]
    cols = {f.name: [t.get(f.name) for t in ticks] for f in schema}
    arrays = []
    for f in schema:
        if f.name == "ts":
            arrays.append(pa.array(cols["ts"], pa.int64()).cast(f.type))
        else:
            arrays.append(pa.array(cols[f.name], f.type))
    return pa.Table.from_arrays(arrays, schema=schema)

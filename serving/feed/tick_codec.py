"""The Kafka tick payload: a batch of ticks per message, one Arrow IPC stream (decision 032).

A message holds ticks of one kind (its topic says which) in arrival order: those of one symbol (what a feed adapter
receives; keyed by the symbol) or those of the symbols that hash to one partition (sent to that partition), so
per-symbol order holds either way. Times are integer UTC nanoseconds. Columns:

* trades: ``symbol`` string, ``ts`` int64, ``price`` float64, ``size`` float64, ``seq`` int64, ``correction`` int8
  (optional, null = regular);
* quotes: ``symbol`` string, ``ts`` int64, ``bid``, ``ask``, ``bid_size``, ``ask_size`` float64, ``seq`` int64;
* status: ``symbol`` string, ``ts`` int64, ``halted`` bool (a trading halt begins, or ends, at ``ts``);
* actions: ``symbol`` string, ``ex_date`` date32, ``split_ratio``, ``cash_dividend`` float64 (announced);
* vix: ``ts`` int64, ``value`` float64.

Decoding takes the columns as they are, without a loop over ticks. A message that is not such a stream, lacks a
column or carries one of another type is refused whole (:class:`BadPayload`, the dead-letter reason); inside a good
message a tick with a null, a non-finite number or an empty symbol is refused alone (:attr:`Decoded.why`).
"""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

_FLOATS = {"trades": ("price", "size"), "quotes": ("bid", "ask", "bid_size", "ask_size")}
WIRE = {
    kind: pa.schema(
        [("symbol", pa.string()), ("ts", pa.int64()), *[(f, pa.float64()) for f in floats], ("seq", pa.int64())]
        + ([("correction", pa.int8())] if kind == "trades" else [])
    )
    for kind, floats in _FLOATS.items()
}
WIRE["status"] = pa.schema([("symbol", pa.string()), ("ts", pa.int64()), ("halted", pa.bool_())])
# inputs beyond ticks: a corporate action announced (applied before its ex-date's first bar), a VIX print
WIRE["actions"] = pa.schema(
    [("symbol", pa.string()), ("ex_date", pa.date32()), ("split_ratio", pa.float64()), ("cash_dividend", pa.float64())]
)
WIRE["vix"] = pa.schema([("ts", pa.int64()), ("value", pa.float64())])
OPTIONAL = {"correction"}


class BadPayload(ValueError):
    """A message that cannot be read as a batch of ticks; the text is the dead-letter reason."""


# kept for the vendor parsers, whose one-event errors are dead-lettered the same way
BadTick = BadPayload


@dataclass
class Decoded:
    """One message's ticks as columns. ``ok[i]`` is False for a tick refused at decoding, and ``why[i]`` says why
    (refusals are rare: kept sparse)."""

    kind: str
    symbols: pa.Array
    cols: dict[str, np.ndarray]
    ok: np.ndarray
    why: dict[int, str]

    def __len__(self) -> int:
        return len(self.symbols)

    def refuse(self, mask: np.ndarray, reason: str) -> None:
        """Refuse the ticks under ``mask`` not refused yet (the first reason found stands)."""
        for i in np.flatnonzero(mask & self.ok):
            self.why[int(i)] = reason
        self.ok &= ~mask

    def tick(self, i: int) -> dict:
        """Tick ``i`` as a plain dict (for a dead letter)."""
        out = {"symbol": self.symbols[i].as_py()}
        out.update({k: v[i].item() for k, v in self.cols.items()})
        return out


def wire_table(kind: str, table: pa.Table) -> pa.Table:
    """A table of ``kind`` (contract columns; ``ts`` a timestamp or int64 ns) in the payload's schema."""
    cols = []
    for f in WIRE[kind]:
        if f.name not in table.column_names and f.name in OPTIONAL:
            cols.append(pa.nulls(table.num_rows, f.type))
            continue
        c = table.column(f.name)
        cols.append(c.cast(pa.int64()) if f.name == "ts" else c.cast(f.type))
    return pa.Table.from_arrays(cols, schema=WIRE[kind])


def encode(kind: str, table: pa.Table) -> bytes:
    """One message from a ``trades``/``quotes`` table (contract columns; ``ts`` a timestamp or int64 ns)."""
    batch = wire_table(kind, table)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, WIRE[kind]) as w:
        if batch.num_rows:
            w.write_table(batch)
        else:  # an empty batch still carries one: a feed's word that a quiet partition has nothing new
            w.write_batch(pa.RecordBatch.from_arrays([c.combine_chunks() for c in batch.columns], schema=WIRE[kind]))
    return sink.getvalue().to_pybytes()


_SCHEMA_MESSAGE = {kind: schema.serialize().to_pybytes() for kind, schema in WIRE.items()}


def read(kind: str, value: bytes) -> pa.RecordBatch:
    """One message's batch, or :class:`BadPayload` naming what is wrong with the message as a whole. A message
    whose schema is ours byte for byte (every tickwise producer's) is read without parsing it again."""
    buf = pa.py_buffer(value)
    try:
        stream = pa.BufferReader(buf)
        head = pa.ipc.read_message(stream)
        if head.type == "schema" and head.serialize().to_pybytes() == _SCHEMA_MESSAGE[kind]:
            body = pa.ipc.read_message(stream)
            if body.type == "record batch":
                batch = pa.ipc.read_record_batch(body, WIRE[kind])
                batch.validate(full=True)  # offsets and UTF-8 within bounds: a damaged body is refused here
                return batch
        table = pa.ipc.open_stream(buf).read_all()
        table.validate(full=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, ValueError, EOFError) as e:
        raise BadPayload(f"not an Arrow IPC tick batch: {str(e).splitlines()[0][:120]}") from None
    have = dict(zip(table.column_names, table.schema.types, strict=True))
    for f in WIRE[kind]:
        if f.name not in have:
            if f.name in OPTIONAL:
                continue
            raise BadPayload(f"missing column {f.name!r}")
        if have[f.name] != f.type:
            raise BadPayload(f"column {f.name!r} is {have[f.name]}, expected {f.type}")
    cols = [
        table.column(f.name).combine_chunks() if f.name in have else pa.nulls(table.num_rows, f.type)
        for f in WIRE[kind]
    ]
    return pa.RecordBatch.from_arrays(cols, schema=WIRE[kind])


def columns(kind: str, batches: list[pa.RecordBatch]) -> Decoded:
    """The ticks of several messages' batches (a poll's, in arrival order) as columns, each tick screened for what
    the message format itself allows to be wrong: nulls, non-finite numbers, empty symbols."""
    table = pa.Table.from_batches(batches, schema=WIRE[kind]).combine_chunks()
    n = table.num_rows
    cols: dict[str, np.ndarray] = {}
    checks: list[tuple[np.ndarray, str]] = []  # in field order: the first field's complaint wins
    has_symbol = "symbol" in table.column_names
    symbols = (
        table.column("symbol").chunk(0)
        if has_symbol and n
        else pa.array([""] * n if not has_symbol else [], pa.string())
    )
    for f in WIRE[kind]:
        col = table.column(f.name)
        nulls = col.null_count
        null = np.asarray(col.is_null()) if nulls else None
        if nulls and f.name not in OPTIONAL:
            checks.append((null, f"missing field {f.name!r}"))  # type: ignore[arg-type]
        if f.name == "symbol":
            offsets = np.frombuffer(symbols.buffers()[1], np.int32)[symbols.offset : symbols.offset + n + 1]
            checks.append((np.diff(offsets) == 0, "field 'symbol' must be a non-empty string"))
            continue
        fill = False if f.type == pa.bool_() else (pa.scalar(0, pa.date32()) if f.type == pa.date32() else 0)
        arr = (col.fill_null(fill) if nulls else col).to_numpy()
        if f.type == pa.float64():
            bad = ~np.isfinite(arr)
            checks.append((bad & ~null if null is not None else bad, f"field {f.name!r} must be a finite number"))
        cols[f.name] = arr
    d = Decoded(kind, symbols, cols, np.ones(n, bool), {})
    for mask, reason in checks:
        if mask.any():
            d.refuse(mask, reason)
    return d


def decode(kind: str, value: bytes) -> Decoded:
    """One message's ticks as columns (:func:`read`, then :func:`columns`)."""
    return columns(kind, [read(kind, value)])


def halts_to_status(halts: pa.Table) -> pa.Table:
    """A ``halts`` table (intervals) as the status rows a feed would have sent, in time order: halted at each start,
    resumed at each end (a start before an end at the same instant), so a symbol halted twice in a day reads as
    two halts, not one from the first start to the last end."""
    n = halts.num_rows
    ts = np.r_[_ns(halts.column("start")), _ns(halts.column("end"))]
    halted = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    order = np.lexsort((~halted, ts))
    symbols = pa.concat_arrays([halts.column("symbol").combine_chunks()] * 2) if n else pa.array([], pa.string())
    return pa.table(
        {"symbol": symbols.take(pa.array(order)), "ts": ts[order], "halted": halted[order]}, schema=WIRE["status"]
    )


def _ns(col: pa.ChunkedArray) -> np.ndarray:
    return col.cast(pa.int64()).to_numpy()

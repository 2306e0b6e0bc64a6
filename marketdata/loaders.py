"""Bring your own data: CSV/Parquet with column mapping, time zone and scale options, into the contract.

Every loader ends in :func:`marketdata.validate.conform`, so a file that breaks the contract fails with its
name, the column and the first offending row.
"""

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from marketdata.schemas import schema_for
from marketdata.validate import ContractError, align, conform

TIME_COLUMNS = {"ts", "start", "end"}
PRICE_COLUMNS = {"price", "bid", "ask", "open", "high", "low", "close", "vwap", "cash_dividend"}
SIZE_COLUMNS = {"size", "bid_size", "ask_size", "volume"}


def parse_mapping(spec: str | None) -> dict[str, str]:
    """``"ts=Date,close=Close"`` -> ``{"ts": "Date", "close": "Close"}`` (contract column = file column)."""
    if not spec:
        return {}
    out = {}
    for item in spec.split(","):
        if "=" not in item:
            raise ValueError(f"--map item {item!r} is not CONTRACT_COLUMN=FILE_COLUMN")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def read_any(path: str) -> pa.Table:
    """Read a CSV or Parquet file as Arrow (a ``.gz`` CSV too, and a ``.zip`` holding one data file)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if p.suffix.lower() in (".parquet", ".pq"):
        return pq.read_table(p)
    if p.suffix.lower() in (".csv", ".txt", ".gz"):
        return pacsv.read_csv(p)
    if p.suffix.lower() == ".zip":
        return _read_zip(p)
    raise ValueError(f"{path}: unsupported file type {p.suffix!r} (use .csv, .parquet, or a .zip of one of them)")


def _read_zip(p: Path) -> pa.Table:
    """The one data file in a zip archive (vendors ship a CSV zipped); several are an error naming them."""
    import io
    import zipfile

    with zipfile.ZipFile(p) as z:
        data = [n for n in z.namelist() if n.lower().endswith((".csv", ".txt", ".parquet", ".pq"))]
        if len(data) != 1:
            found = ", ".join(data[:5]) + (" ..." if len(data) > 5 else "") if data else "none"
            raise ValueError(f"{p}: a zip of exactly one data file is read (found {found}): unzip it into a folder")
        raw = z.read(data[0])
    if data[0].lower().endswith((".parquet", ".pq")):
        return pq.read_table(io.BytesIO(raw))
    return pacsv.read_csv(io.BytesIO(raw))


def to_utc(col: pa.ChunkedArray, tz: str, source: str, name: str) -> pa.ChunkedArray:
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        try:
            col = pc.strptime(col, format="%Y-%m-%d %H:%M:%S", unit="ns", error_is_null=False)
        except pa.ArrowInvalid:
            col = col.cast(pa.timestamp("ns"))
    if pa.types.is_date(col.type):
        col = col.cast(pa.timestamp("ns"))
    if pa.types.is_integer(col.type):  # yyyymmdd integers (common in daily files)
        s = pc.cast(col, pa.string())
        col = pc.strptime(s, format="%Y%m%d", unit="ns")
    if not pa.types.is_timestamp(col.type):
        raise ContractError(source, name, None, f"cannot read {col.type} as a timestamp")
    if col.type.tz is None:
        col = pc.assume_timezone(
            col.cast(pa.timestamp("ns")), timezone=tz, ambiguous="earliest", nonexistent="earliest"
        )
    return col.cast(pa.timestamp("ns", tz="UTC"))


def sequence_numbers(symbols: pa.ChunkedArray) -> np.ndarray:
    """Per-symbol running sequence numbers in file order (for sources that have none)."""
    codes = pc.dictionary_encode(symbols.combine_chunks()).indices.to_numpy()
    order = np.argsort(codes, kind="stable")
    c = codes[order]
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    run = np.arange(len(c)) - np.repeat(starts, np.diff(np.r_[starts, len(c)]))
    out = np.empty(len(c), np.int64)
    out[order] = run + 1
    return out


def load(
    path: str,
    dataset: str,
    mapping: Mapping[str, str] | None = None,
    tz: str = "UTC",
    price_scale: float = 1.0,
    size_scale: float = 1.0,
    symbol: str | None = None,
) -> pa.Table:
    """Load ``path`` as ``dataset``: rename per ``mapping``, localize naive times in ``tz``, scale, validate."""
    raw = read_any(path)
    return from_table(raw, dataset, mapping, tz, price_scale, size_scale, symbol, source=path)


def from_table(
    raw: pa.Table,
    dataset: str,
    mapping: Mapping[str, str] | None = None,
    tz: str = "UTC",
    price_scale: float = 1.0,
    size_scale: float = 1.0,
    symbol: str | None = None,
    source: str = "<table>",
    check_rows: bool = True,
) -> pa.Table:
    """The in-memory half of :func:`load`. With ``check_rows`` false the rows are left unchecked (aligned to the
    contract's columns and types only), for a caller that sets bad rows aside (:func:`marketdata.rejects.quarantine`)."""
    schema = schema_for(dataset)
    mapping = dict(mapping or {})
    lower = {c.lower(): c for c in raw.column_names}
    cols: dict[str, pa.ChunkedArray] = {}
    for field in schema:
        src = mapping.get(field.name) or lower.get(field.name)
        if src is None:
            continue
        if src not in raw.column_names:
            raise ContractError(source, src, None, f"--map names column {src!r}, not in file ({raw.column_names})")
        col = raw.column(src)
        if field.name in TIME_COLUMNS:
            col = to_utc(col, tz, source, src)
        elif field.name == "ex_date":
            col = to_utc(col, "UTC", source, src).cast(pa.date32())
        elif field.name in PRICE_COLUMNS and price_scale != 1.0:
            col = pc.multiply(col.cast(pa.float64()), price_scale)
        elif field.name in SIZE_COLUMNS and size_scale != 1.0:
            col = pc.multiply(col.cast(pa.float64()), size_scale)
        cols[field.name] = col
    if "symbol" in cols and symbol is not None:  # which would win is a guess: say so instead
        raise ContractError(
            source, "symbol", None, f"the file has a symbol column and a symbol ({symbol!r}) was given too: keep one"
        )
    if "symbol" not in cols:
        if symbol is None:
            raise ContractError(source, "symbol", None, "no symbol column: map one or pass --symbol")
        cols["symbol"] = pa.chunked_array([pa.array([symbol] * raw.num_rows, pa.string())])
    if dataset in ("trades", "quotes") and "seq" not in cols:
        cols["seq"] = pa.chunked_array([pa.array(sequence_numbers(cols["symbol"]))])
    if dataset == "corporate_actions":
        cols.setdefault("split_ratio", pa.chunked_array([pa.array(np.ones(raw.num_rows))]))
        cols.setdefault("cash_dividend", pa.chunked_array([pa.array(np.zeros(raw.num_rows))]))
    return conform(pa.table(cols), dataset, source) if check_rows else align(pa.table(cols), dataset, source)


def consolidate_nbbo(quotes: pa.Table, exchange: pa.ChunkedArray, max_age_s: float = 5.0) -> pa.Table:
    """National best bid and offer from per-exchange quotes.

    Each exchange's latest quote stands until it updates or is older than ``max_age_s`` (a quiet venue's stale
    quote would otherwise cross the market); the NBBO after every update is the best bid and best ask across
    the standing quotes, sizes summed over the venues at the best price. One output row per input row.
    """
    order = np.lexsort((quotes.column("seq").to_numpy(), quotes.column("ts").cast(pa.int64()).to_numpy()))
    q = quotes.take(pa.array(order))
    ex = pc.dictionary_encode(exchange.take(pa.array(order)).combine_chunks())
    ex_code = ex.indices.to_numpy()
    sym = pc.dictionary_encode(q.column("symbol").combine_chunks()).indices.to_numpy()
    out = {k: np.empty(q.num_rows) for k in ("bid", "ask", "bid_size", "ask_size")}
    vals = {k: q.column(k).to_numpy() for k in out}
    vals["ts"] = q.column("ts").cast(pa.int64()).to_numpy().astype(float)
    for s in np.unique(sym):
        rows = np.flatnonzero(sym == s)
        k = len(ex.dictionary)
        book = {key: np.full((len(rows), k), np.nan) for key in vals}
        for key in vals:
            book[key][np.arange(len(rows)), ex_code[rows]] = vals[key][rows]
            book[key] = _ffill_2d(book[key])
        fresh = (vals["ts"][rows][:, None] - book["ts"]) <= max_age_s * 1e9
        bid = np.where((book["bid"] > 0) & fresh, book["bid"], np.nan)
        ask = np.where((book["ask"] > 0) & fresh, book["ask"], np.nan)
        with np.errstate(all="ignore"):
            best_bid = np.max(np.where(np.isnan(bid), -np.inf, bid), axis=1)
            best_ask = np.min(np.where(np.isnan(ask), np.inf, ask), axis=1)
        best_bid[~np.isfinite(best_bid)] = 0.0  # no standing bid: a one-sided NBBO, refused by the aggregator
        best_ask[~np.isfinite(best_ask)] = 0.0
        out["bid"][rows], out["ask"][rows] = best_bid, best_ask
        out["bid_size"][rows] = np.nansum(np.where(bid == best_bid[:, None], book["bid_size"], 0), axis=1)
        out["ask_size"][rows] = np.nansum(np.where(ask == best_ask[:, None], book["ask_size"], 0), axis=1)
    for key, v in out.items():
        q = q.set_column(q.schema.get_field_index(key), key, pa.array(v))
    return q


def _ffill_2d(a: np.ndarray) -> np.ndarray:
    idx = np.where(~np.isnan(a), np.arange(a.shape[0])[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    return a[idx, np.arange(a.shape[1])[None, :]]


def regular_session_mask(ts: pa.ChunkedArray) -> np.ndarray:
    """True for event times inside a regular NYSE session (09:30-close New York, trading days only)."""
    from marketdata.calendar import session_bounds_ns

    ns = ts.cast(pa.int64()).to_numpy()
    days = ns.astype("datetime64[ns]").astype("datetime64[D]")
    mask = np.zeros(len(ns), bool)
    for d in np.unique(days):
        date = d.astype(dt.date)
        o, c = session_bounds_ns(date)
        sel = days == d
        mask[sel] = (ns[sel] >= o) & (ns[sel] < c)
    return mask


CLOCKS = ("UTC", "America/New_York")


def clock_hint(raw: pa.Table, mapping: Mapping[str, str] | None, tz: str, min_gain: float = 0.3) -> str | None:
    """A warning when a tick file's naive times were probably read in the wrong zone, else None.

    The share of rows inside the regular session is computed with the times read in ``tz`` and in each of
    :data:`CLOCKS`; when another zone would keep at least ``min_gain`` more of the rows, the file's clock is more
    likely that zone (a vendor's wall clock read as UTC or the reverse shifts the session by hours, and the
    session filter then keeps pre-market ticks and drops the close). Times that carry their zone are never
    questioned."""
    lower = {c.lower(): c for c in raw.column_names}
    src = dict(mapping or {}).get("ts") or lower.get("ts")
    if src is None or src not in raw.column_names or raw.num_rows == 0:
        return None
    col = raw.column(src)
    if pa.types.is_timestamp(col.type) and col.type.tz is not None:
        return None

    def share(zone: str) -> float:
        return float(regular_session_mask(to_utc(col, zone, "<clock check>", src)).mean())

    given = share(tz)
    best, best_share = max(((z, share(z)) for z in CLOCKS if z != tz), key=lambda x: x[1])
    if best_share - given < min_gain:
        return None
    return (
        f"read as {tz}, {given:.0%} of the rows fall in the regular session; read as {best}, {best_share:.0%} "
        f"would. If the file's clock is {best}, run again with --tz {best}"
    )

"""The one validation function every loader and command uses on data in the contract.

``conform`` lines a table up with its contract schema (column order, safe casts, absent optional columns as nulls)
and then ``validate`` checks it. Both raise :class:`ContractError`, which names the source, the column and the
first offending row, so a user can find the bad line in their own file.
"""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marketdata.schemas import NS_PER_MIN, schema_for


@dataclass
class ContractError(ValueError):
    """A table broke the data contract."""

    source: str
    column: str | None
    row: int | None
    problem: str

    def __str__(self) -> str:
        where = self.source
        if self.column is not None:
            where += f", column {self.column!r}"
        if self.row is not None:
            where += f", row {self.row}"
        return f"{where}: {self.problem}"


PRICE_COLUMNS = {
    "trades": ("price",),
    "bars_1m": ("open", "high", "low", "close"),
}
NONNEGATIVE_COLUMNS = {
    "trades": ("size",),
    # a zero bid or ask is a one-sided quote (real feeds have them); the aggregator refuses it for the NBBO
    "quotes": ("bid", "ask", "bid_size", "ask_size"),
    "bars_1m": ("volume", "trades", "bid_size", "ask_size"),
    "corporate_actions": ("cash_dividend",),
}
UNIQUE_KEYS = {
    "trades": ("symbol", "seq"),
    "quotes": ("symbol", "seq"),
    "bars_1m": ("symbol", "ts"),
    "corporate_actions": ("symbol", "ex_date"),
    "reference": ("symbol",),
}


def _first(mask: np.ndarray) -> int | None:
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else None


def _check_timestamp(field: pa.Field, col: pa.ChunkedArray, source: str) -> None:
    t = col.type
    if not pa.types.is_timestamp(t):
        return
    if t.tz is None:
        raise ContractError(source, field.name, None, "naive timestamp (no time zone); tickwise needs UTC")
    if t.tz not in ("UTC", "+00:00", "Etc/UTC"):
        raise ContractError(source, field.name, None, f"timestamp in time zone {t.tz!r}; tickwise needs UTC")


def conform(table: pa.Table, dataset: str, source: str = "<table>") -> pa.Table:
    """Return ``table`` with the contract's columns, order and types (:func:`align`), then validated."""
    out = align(table, dataset, source)
    validate(out, dataset, source)
    return out


def align(table: pa.Table, dataset: str, source: str = "<table>") -> pa.Table:
    """``table`` with the contract's columns, order and types, its rows not checked yet.

    Extra columns are dropped; absent nullable columns become nulls; lossless casts (int -> float, ms -> ns,
    string -> large string) are applied. A missing required column, a type that will not cast, or a timestamp
    that is naive or not UTC raises :class:`ContractError`.
    """
    schema = schema_for(dataset)
    columns = []
    for field in schema:
        if field.name not in table.column_names:
            if field.nullable:
                columns.append(pa.nulls(table.num_rows, field.type))
                continue
            raise ContractError(source, field.name, None, f"missing required column (have: {table.column_names})")
        col = table.column(field.name)
        _check_timestamp(field, col, source)
        if col.type != field.type:
            try:
                col = col.cast(field.type, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
                raise ContractError(
                    source, field.name, None, f"type {col.type} does not convert to {field.type}: {err}"
                ) from None
        columns.append(col)
    return pa.Table.from_arrays(columns, schema=schema.remove_metadata())


def validate(table: pa.Table, dataset: str, source: str = "<table>") -> None:
    """Check ``table`` against the contract of ``dataset``; raise :class:`ContractError` at the first problem."""
    schema = schema_for(dataset)
    for field in schema:
        if field.name not in table.column_names:
            raise ContractError(source, field.name, None, "missing column")
        col = table.column(field.name)
        _check_timestamp(field, col, source)
        if col.type != field.type:
            raise ContractError(source, field.name, None, f"type {col.type}, expected {field.type}")
        if not field.nullable and col.null_count:
            row = _first(pc.is_null(col).to_numpy(zero_copy_only=False))
            raise ContractError(source, field.name, row, "null in a required column")
    if table.num_rows == 0:
        return

    def arr(name: str) -> np.ndarray:
        return table.column(name).to_numpy(zero_copy_only=False)

    for name, bad, problem in _value_rules(table, dataset):
        if (row := _first(bad)) is not None:
            raise ContractError(source, name, row, f"{problem} {arr(name)[row].item()!r}")
    if dataset == "bars_1m":
        _validate_bars(table, source, arr)
    if dataset == "quotes":
        pass  # crossed quotes are real (TAQ has them); the aggregator rejects them with a reason
    if dataset == "corporate_actions":
        ratio = arr("split_ratio")
        if (row := _first(~(ratio > 0))) is not None:
            raise ContractError(source, "split_ratio", row, f"split ratio must be > 0, got {ratio[row].item()!r}")
    if dataset == "halts":
        start, end = arr("start").astype("int64"), arr("end").astype("int64")
        if (row := _first(end < start)) is not None:
            raise ContractError(source, "end", row, "halt ends before it starts")
    if (keys := UNIQUE_KEYS.get(dataset)) and (row := _first(_repeats(table, keys))) is not None:
        raise ContractError(source, ",".join(keys), row, f"duplicate key ({', '.join(keys)})")


def _value_rules(table: pa.Table, dataset: str) -> list[tuple[str, np.ndarray, str]]:
    """The per-row value rules of ``dataset``, in the order :func:`validate` checks them: (column, rows breaking
    it, problem)."""
    rules = []
    for name in PRICE_COLUMNS.get(dataset, ()):
        values = table.column(name).to_numpy(zero_copy_only=False)
        bad = ~(values > 0) & ~np.isnan(values) if table.column(name).null_count else ~(values > 0)
        rules.append((name, bad, "non-positive or NaN price"))
    for name in NONNEGATIVE_COLUMNS.get(dataset, ()):
        rules.append((name, table.column(name).to_numpy(zero_copy_only=False).astype(float) < 0, "negative value"))
    return rules


def row_problems(table: pa.Table, dataset: str) -> np.ndarray:
    """Why each row of an aligned ``table`` breaks the contract ("" where it does not): a null in a required
    column, then the value rules, then a key an earlier row already has — the rules :func:`validate` checks row by
    row, first broken rule first. What is left after dropping those rows passes :func:`validate` (for ticks;
    bars, halts and corporate actions have rules across columns that stay whole-table)."""
    why = np.full(table.num_rows, "", dtype=object)
    taken = np.zeros(table.num_rows, dtype=bool)  # a row keeps the first rule it breaks
    for field in schema_for(dataset):
        if not field.nullable and table.column(field.name).null_count:
            fresh = pc.is_null(table.column(field.name)).to_numpy(zero_copy_only=False) & ~taken
            why[fresh], taken = f"null in a required column: {field.name}", taken | fresh
    for name, bad, problem in _value_rules(table, dataset):
        if (fresh := bad & ~taken).any():
            values = table.column(name).to_numpy(zero_copy_only=False)[fresh].tolist()
            why[fresh], taken = [f"{problem} in {name}: {v!r}" for v in values], taken | fresh
    if keys := UNIQUE_KEYS.get(dataset):
        why[_repeats(table, keys) & ~taken] = f"duplicate key ({', '.join(keys)})"
    return why


def _validate_bars(table: pa.Table, source: str, arr) -> None:  # type: ignore[no-untyped-def]
    o, h, lo, c = arr("open"), arr("high"), arr("low"), arr("close")
    if (row := _first(h < np.maximum(o, c))) is not None:
        raise ContractError(source, "high", row, f"high {h[row]} < max(open {o[row]}, close {c[row]})")
    if (row := _first(lo > np.minimum(o, c))) is not None:
        raise ContractError(source, "low", row, f"low {lo[row]} > min(open {o[row]}, close {c[row]})")
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    if (row := _first(ts % NS_PER_MIN != 0)) is not None:
        raise ContractError(source, "ts", row, "bar stamp is not on a whole minute")


def _repeats(table: pa.Table, keys: tuple[str, ...]) -> np.ndarray:
    """Rows whose key an earlier row (in key order, then row order) already has."""
    key_arrays = []
    for k in keys:
        col = table.column(k)
        if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
            col = col.cast(pa.int64() if pa.types.is_timestamp(col.type) else pa.int32())
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            col = pc.dictionary_encode(col.combine_chunks()).indices
        key_arrays.append(np.asarray(col.to_numpy(zero_copy_only=False)).astype(np.int64))
    order = np.lexsort(key_arrays[::-1])
    same = np.ones(max(len(order) - 1, 0), dtype=bool)
    for a in key_arrays:
        s = a[order]
        same &= s[1:] == s[:-1]
    out = np.zeros(len(order), dtype=bool)
    out[order[1:][same]] = True
    return out

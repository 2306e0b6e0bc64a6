"""The lake's ``rejects`` dataset: one day partition that several producers write rows into.

The aggregator refuses ticks (sources ``trades`` and ``quotes``), and ``tickwise ingest --quarantine`` sets aside
the rows of a file that break the contract (source ``ingest:<dataset>``). Each producer replaces only its own rows
of a day when it runs again, so a re-run never leaves stale rejects behind and never erases another producer's.
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marketdata.buffers import rejects_table
from marketdata.lake import Lake, partition_dates
from marketdata.validate import row_problems

AGGREGATOR = ("trades", "quotes")


def replace_rejects(
    lake: Lake, day: dt.date, rejects: pa.Table, sources: Iterable[str], symbols: pa.Array | None = None
) -> int:
    """Make ``rejects`` (contract ``rejects``) the day's rows from ``sources``, keeping every other source's rows;
    with ``symbols``, only those symbols' rows from ``sources`` (a file of some tickers replaces its own rejects,
    not another file's). Returns how many rows ``rejects`` holds."""
    had = day in lake.dates("rejects")
    merged = rejects
    if had:
        old = lake.read("rejects", [day])
        mine = pc.is_in(old.column("source"), pa.array(list(sources)))
        if symbols is not None:  # a null symbol in ``symbols`` matches the old rows without one
            mine = pc.and_(mine, pc.is_in(old.column("symbol"), symbols.cast(old.column("symbol").type)))
        merged = pa.concat_tables([old.filter(pc.invert(mine)), rejects])
    if merged.num_rows or had:
        lake.write_partition("rejects", day, merged.combine_chunks())
    return rejects.num_rows


@dataclass
class Quarantined:
    """A table split by :func:`quarantine`: the rows that pass, a column aligned with them, the rows set aside (as
    ``rejects`` under ``source``), the days the whole table covered and the symbols it named on each."""

    kept: pa.Table
    beside: pa.ChunkedArray | None
    rejects: pa.Table
    source: str
    days: list[dt.date]
    symbols: list[pa.Array]  # per day: the symbols the table named (its rows kept or set aside), null included

    def write(self, lake: Lake) -> None:
        """Make the rows set aside the source's rejects of those days and symbols (after the kept rows landed):
        the rejects of another file's symbols stay, as its rows do (``Lake.write(by_symbol=True)``)."""
        when = partition_dates(self.rejects, "ts") if self.rejects.num_rows else np.empty(0, "datetime64[D]")
        for d, names in zip(self.days, self.symbols, strict=True):
            rows = self.rejects.filter(pa.array(when == np.datetime64(d)))
            replace_rejects(lake, d, rows, [self.source], names)


def combine(parts: list[Quarantined]) -> Quarantined:
    """The rows set aside from several files of one source as one, to be written once: written one after another,
    a later file naming a symbol on a day would replace what an earlier file set aside for it."""
    names: dict[dt.date, list[pa.Array]] = {}
    for q in parts:
        for d, n in zip(q.days, q.symbols, strict=True):
            names.setdefault(d, []).append(n.cast(pa.string()))
    days = sorted(names)
    symbols = [pc.unique(pa.concat_arrays(names[d])) for d in days]
    rej = pa.concat_tables([q.rejects for q in parts])
    return Quarantined(parts[0].kept.slice(0, 0), None, rej, parts[0].source, days, symbols)


def quarantine(table: pa.Table, dataset: str, source: str, beside: pa.ChunkedArray | None = None) -> Quarantined:
    """Split an aligned ``table`` into the rows that pass the contract and those that break it
    (:func:`row_problems`, as ``rejects`` rows under ``source`` with their reasons); ``beside`` (a column aligned
    with ``table``) is cut to the rows kept. A row without a timestamp cannot be placed in a day: it is an error,
    with its row number."""
    ts = table.column("ts")
    if ts.null_count:
        row = int(np.flatnonzero(pc.is_null(ts).to_numpy(zero_copy_only=False))[0])
        raise ValueError(f"{source}: row {row} has no timestamp, so it cannot be set aside in a day: fix the file")
    why = row_problems(table, dataset)
    bad = np.not_equal(why, "") if len(why) else np.zeros(0, bool)
    when = partition_dates(table, "ts")
    days = [d.astype(object) for d in np.unique(when)] if table.num_rows else []
    names = [pc.unique(table.column("symbol").filter(pa.array(when == np.datetime64(d)))) for d in days]
    rej = rejects_table(source, table, bad, why)
    if not rej.num_rows:  # the usual case: no copy of a day of ticks
        return Quarantined(table, beside, rej, source, days, names)
    keep = pa.array(~bad)
    kept = table.filter(keep)
    return Quarantined(kept, None if beside is None else beside.filter(keep), rej, source, days, names)

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


def replace_rejects(lake: Lake, day: dt.date, rejects: pa.Table, sources: Iterable[str]) -> int:
    """Make ``rejects`` (contract ``rejects``) the day's rows from ``sources``, keeping every other source's rows.
    Returns how many rows ``rejects`` holds."""
    had = day in lake.dates("rejects")
    merged = rejects
    if had:
        old = lake.read("rejects", [day])
        merged = pa.concat_tables(
            [old.filter(pc.invert(pc.is_in(old.column("source"), pa.array(list(sources))))), rejects]
        )
    if merged.num_rows or had:
        lake.write_partition("rejects", day, merged.combine_chunks())
    return rejects.num_rows


@dataclass
class Quarantined:
    """A table split by :func:`quarantine`: the rows that pass, a column aligned with them, the rows set aside (as
    ``rejects`` under ``source``) and the days the whole table covered."""

    kept: pa.Table
    beside: pa.ChunkedArray | None
    rejects: pa.Table
    source: str
    days: list[dt.date]

    def write(self, lake: Lake) -> None:
        """Make the rows set aside the source's rejects of those days (after the kept rows landed)."""
        when = partition_dates(self.rejects, "ts") if self.rejects.num_rows else np.empty(0, "datetime64[D]")
        for d in self.days:
            replace_rejects(lake, d, self.rejects.filter(pa.array(when == np.datetime64(d))), [self.source])


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
    days = [d.astype(object) for d in np.unique(partition_dates(table, "ts"))] if table.num_rows else []
    rej = rejects_table(source, table, bad, why)
    if not rej.num_rows:  # the usual case: no copy of a day of ticks
        return Quarantined(table, beside, rej, source, days)
    keep = pa.array(~bad)
    return Quarantined(table.filter(keep), None if beside is None else beside.filter(keep), rej, source, days)

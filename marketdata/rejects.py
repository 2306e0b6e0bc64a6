"""The lake's ``rejects`` dataset: one day partition that several producers write rows into.

The aggregator refuses ticks (sources ``trades`` and ``quotes``), and ``tickwise ingest --quarantine`` sets aside
the rows of a file that break the contract (source ``ingest:<dataset>``). Each producer replaces only its own rows
of a day when it runs again, so a re-run never leaves stale rejects behind and never erases another producer's.
"""

import datetime as dt
from collections.abc import Iterable

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


def quarantine(
    lake: Lake, table: pa.Table, dataset: str, source: str, beside: pa.ChunkedArray | None = None
) -> tuple[pa.Table, pa.ChunkedArray | None, int]:
    """Write the rows of an aligned ``table`` that break the contract (:func:`row_problems`) to the lake's rejects
    under ``source``, with their reasons, replacing that source's earlier rows for the days ``table`` covers.
    Returns the other rows, ``beside`` (a column aligned with ``table``) cut to them, and how many were set aside.
    A row without a timestamp cannot be placed in a day: it is an error, with its row number."""
    why = row_problems(table, dataset)
    bad = why != ""
    ts = table.column("ts")
    if ts.null_count:
        row = int(np.flatnonzero(pc.is_null(ts).to_numpy(zero_copy_only=False))[0])
        raise ValueError(f"{source}: row {row} has no timestamp, so it cannot be set aside in a day: fix the file")
    rej = rejects_table(source, table, bad, why)
    days = np.unique(partition_dates(table, "ts")) if table.num_rows else []
    rej_days = partition_dates(rej, "ts") if rej.num_rows else np.empty(0, "datetime64[D]")
    for d in days:
        replace_rejects(lake, d.astype(object), rej.filter(pa.array(rej_days == d)), [source])
    keep = pa.array(~bad)
    return table.filter(keep), None if beside is None else beside.filter(keep), int(bad.sum())

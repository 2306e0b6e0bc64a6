"""Many files into the lake in one pass: each file's rows are set aside by day, then every day is merged once.

Vendors ship a file per ticker. Ingesting them one call at a time rewrites each day partition once per file, with
every symbol landed before it: for N files that is ~N²/2 symbols' rows written. Here the rows of all the files are
grouped by day first (in memory, spilled to a temporary directory beyond ``max_rows``), and each day partition is
then written once, replacing the rows of the symbols the files name (:meth:`Lake.merge_partition`).
"""

import datetime as dt
import glob
import os
import re
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from marketdata.lake import Lake, partition_dates
from marketdata.schemas import PARTITION_COLUMN
from marketdata.validate import conform

SUFFIXES = (".csv", ".txt", ".parquet", ".pq", ".csv.gz", ".txt.gz", ".zip")
STEM = r"^(.+?)(\.(csv|txt|parquet|pq))?(\.(gz|zip))?$"  # the file name without its data suffixes


def expand(paths: list[str]) -> list[str]:
    """The files ``paths`` name: files as given, globs expanded, a directory's data files (all sorted, each once).
    A path that names nothing is an error naming it."""
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            found = sorted(str(f) for f in Path(p).iterdir() if f.is_file() and f.name.lower().endswith(SUFFIXES))
        elif any(c in p for c in "*?["):
            found = sorted(glob.glob(p))
        else:
            found = [p] if os.path.exists(p) else []
        if not found:
            raise FileNotFoundError(f"{p}: no such file, or no data file matches it")
        out.extend(f for f in found if f not in out)
    return out


def symbol_of(path: str, regex: str = STEM) -> str:
    """The symbol in a file's name: the first group of ``regex`` matched against the name (default: the name
    without its data suffixes).

    >>> symbol_of("/data/AAPL.csv"), symbol_of("BRK.B.parquet"), symbol_of("aapl.us.txt", r"^([a-z.]+?)\\.us\\.")
    ('AAPL', 'BRK.B', 'aapl')
    """
    name = os.path.basename(path)
    m = re.match(regex, name)
    if not m or not m.group(1):
        raise ValueError(f"{path}: --symbol-regex {regex!r} finds no symbol in {name!r}")
    return m.group(1)


class DaySpill:
    """Rows grouped by partition day: kept in memory, written to a temporary directory once ``max_rows`` are held."""

    def __init__(self, dataset: str, max_rows: int = 5_000_000):
        self.col = PARTITION_COLUMN[dataset]
        self.max_rows = max_rows
        self.held: dict[dt.date, list[pa.Table]] = defaultdict(list)
        self.spilled: dict[dt.date, list[str]] = defaultdict(list)
        self.rows = 0
        self._dir: tempfile.TemporaryDirectory | None = None

    def add(self, table: pa.Table) -> None:
        days = partition_dates(table, self.col)
        for day in np.unique(days):
            self.put(day.astype(dt.date), table.filter(pa.array(days == day)))

    def put(self, day: dt.date, table: pa.Table) -> None:
        """Hold ``table`` as rows of ``day`` (spilling everything held once ``max_rows`` are)."""
        self.held[day].append(table)
        self.rows += table.num_rows
        if self.rows >= self.max_rows:
            self._spill()

    def _spill(self) -> None:
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="tickwise-ingest-")
        for day, parts in self.held.items():
            path = f"{self._dir.name}/{day.isoformat()}-{len(self.spilled[day])}.parquet"
            pq.write_table(pa.concat_tables(parts), path)
            self.spilled[day].append(path)
        self.held.clear()
        self.rows = 0

    def days(self) -> list[dt.date]:
        return sorted(set(self.held) | set(self.spilled))

    def take(self, day: dt.date) -> pa.Table:
        """Every row of ``day``, in the order the files came; no longer held."""
        paths, held = self.spilled.pop(day, []), self.held.pop(day, [])
        self.rows -= sum(t.num_rows for t in held)
        return pa.concat_tables([pq.read_table(p) for p in paths] + held)

    def close(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()


def land(
    lake: Lake, dataset: str, spill: DaySpill, source: str, on_day: Callable[[dt.date], None] = lambda _: None
) -> list[dt.date]:
    """Merge each day of ``spill`` into ``lake`` once, replacing the rows of the symbols it names that day.

    Every day is checked against the contract before any is written: a repeated key between two files refuses the
    whole call, not the days after the first bad one. The checked tables are what is written (checked once)."""
    days = spill.days()
    try:
        for day in days:
            spill.put(day, conform(spill.take(day), dataset, f"{source}, {day}"))
        for day in days:
            lake.merge_partition(dataset, day, spill.take(day), checked=True)
            on_day(day)
    finally:
        spill.close()
    return days

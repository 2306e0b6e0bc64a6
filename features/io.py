"""Reading inputs and writing ``features_1m`` with the feature-set version in the file metadata."""

import datetime as dt
import logging
import posixpath
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from features.engine import EngineState, FeatureEngine
from marketdata.lake import Lake, partition_dates, read_table, write_parquet_atomic

log = logging.getLogger(__name__)


def lake_root(bars_path: str) -> str:
    """The lake a bars path belongs to: the path itself, or its parent when it is a lake's ``bars_1m`` folder."""
    root = bars_path.rstrip("/")
    parent = posixpath.dirname(root) or "."
    return parent if posixpath.basename(root) == "bars_1m" and Lake(parent).dates("bars_1m") else root


def load_context(
    bars_path: str, reference: str | None = None, corporate_actions: str | None = None
) -> tuple[pa.Table | None, pa.Table | None]:
    """Reference and corporate actions from explicit paths or, for a lake, from its own datasets when present
    (both optional)."""
    lake = Lake(lake_root(bars_path))

    def optional(path: str | None, dataset: str) -> pa.Table | None:
        if path:
            return read_table(path, dataset)
        if lake.exists(dataset):
            return lake.read(dataset)
        return None

    return optional(reference, "reference"), optional(corporate_actions, "corporate_actions")


class BarDays:
    """``bars_1m`` a day at a time, so the offline commands hold one day in memory, not the whole history: a lake's
    (or its ``bars_1m`` folder's) day partitions are read one by one; a file or a folder of files is read once and
    split by day. ``days`` are ISO dates, ascending (an input without rows is an error); :meth:`read` gives one
    day's bars."""

    def __init__(self, path: str):
        lake = Lake(lake_root(path))
        self._read: Callable[[str], pa.Table]
        if lake.dates("bars_1m"):
            self.days = [d.isoformat() for d in lake.dates("bars_1m")]
            self._read = lambda day: lake.read("bars_1m", [dt.date.fromisoformat(day)])
        else:
            self._split(read_table(path, "bars_1m"))
        if not self.days:
            raise ValueError(f"{path}: no bars_1m rows")

    @classmethod
    def of(cls, table: pa.Table) -> "BarDays":
        """The days of a bars table already in memory."""
        days = cls.__new__(cls)
        days._split(table)
        return days

    def _split(self, table: pa.Table) -> None:
        when = partition_dates(table, "ts").astype(str)
        self.days = sorted(set(when.tolist()))
        self._read = lambda day: table.filter(pa.array(when == day))

    def read(self, day: str) -> pa.Table:
        return self._read(day)


def load_vix(bars_path: str, vix: str | None = None) -> pa.Table | None:
    """The VIX series from an explicit path, else the lake's ``vix`` dataset when present, else None."""
    if vix:
        return read_table(vix, "vix")
    lake = Lake(lake_root(bars_path))
    return lake.read("vix") if lake.exists("vix") else None


def write_features(table: pa.Table, out_dir: str, engine: FeatureEngine, state: EngineState) -> list[str]:
    """Write ``features_1m`` day partitions under ``out_dir`` (atomic), each with the version in its metadata."""
    days = partition_dates(table, "ts")
    paths = []
    md = engine.metadata(state)
    for d in np.unique(days):
        part = table.filter(pa.array(days == d))
        path = f"{out_dir.rstrip('/')}/features_1m/date={d}/part-0.parquet"
        write_parquet_atomic(part, path, md)
        paths.append(path)
    return paths

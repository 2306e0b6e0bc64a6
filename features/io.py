"""Reading inputs and writing ``features_1m`` with the feature-set version in the file metadata."""

import datetime as dt
import logging
import posixpath
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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


def log_closes(days: BarDays, actions: pa.Table | None, max_symbols: int) -> dict[str, np.ndarray]:
    """Each symbol's log close, bar after bar in time order over every day, split-adjusted (a close before a
    split's ex-date is divided by its ratio, so a split is not a jump), for at most ``max_symbols`` names spread
    evenly over the sorted universe: the training series :func:`features.kernels.ffd.choose_d_across` reads."""
    parts: dict[str, list[np.ndarray]] = {}
    stamps: dict[str, list[np.ndarray]] = {}
    keep: list[str] | None = None
    for day in days.days:
        bars = days.read(day).select(["symbol", "ts", "close"])
        if keep is None:  # the first day's names (a later joiner has too short a history to test anyway)
            names = sorted(set(bars.column("symbol").to_pylist()))
            keep = names[:: max(1, -(-len(names) // max_symbols))]
        bars = bars.filter(pc.is_in(bars.column("symbol"), pa.array(keep)))
        bars = bars.sort_by([("symbol", "ascending"), ("ts", "ascending")])
        sym = np.asarray(bars.column("symbol").to_pylist(), dtype=object)
        close, ts = bars.column("close").to_numpy(), bars.column("ts").cast(pa.int64()).to_numpy()
        cuts = np.r_[0, np.flatnonzero(sym[1:] != sym[:-1]) + 1, len(sym)]
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            if b > a:
                parts.setdefault(sym[a], []).append(close[a:b])
                stamps.setdefault(sym[a], []).append(ts[a:b])
    out = {}
    for s in sorted(parts):
        close, ts = np.concatenate(parts[s]), np.concatenate(stamps[s])
        for row in actions.filter(pc.equal(actions.column("symbol"), s)).to_pylist() if actions else []:
            if row["split_ratio"] != 1.0:
                ex = np.datetime64(row["ex_date"], "ns").astype(np.int64)
                close = np.where(ts < ex, close / row["split_ratio"], close)
        out[s] = np.log(close)
    return out

"""Reading inputs and writing ``features_1m`` with the feature-set version in the file metadata."""

import logging

import pyarrow as pa

from features.engine import EngineState, FeatureEngine
from marketdata.lake import Lake, read_table, write_parquet_atomic

log = logging.getLogger(__name__)


def load_inputs(
    bars_path: str, reference: str | None = None, corporate_actions: str | None = None
) -> tuple[pa.Table, pa.Table | None, pa.Table | None]:
    """Bars from a file, folder or lake; reference and corporate actions from explicit paths or, for a lake,
    from its own datasets when present (both optional)."""
    bars = read_table(bars_path, "bars_1m")
    lake = Lake(bars_path)

    def optional(path: str | None, dataset: str) -> pa.Table | None:
        if path:
            return read_table(path, dataset)
        if lake.exists(dataset):
            return lake.read(dataset)
        return None

    return bars, optional(reference, "reference"), optional(corporate_actions, "corporate_actions")


def load_vix(bars_path: str, vix: str | None = None) -> pa.Table | None:
    """The VIX series from an explicit path, else the lake's ``vix`` dataset when present, else None."""
    if vix:
        return read_table(vix, "vix")
    lake = Lake(bars_path)
    return lake.read("vix") if lake.exists("vix") else None


def write_features(table: pa.Table, out_dir: str, engine: FeatureEngine, state: EngineState) -> list[str]:
    """Write ``features_1m`` day partitions under ``out_dir`` (atomic), each with the version in its metadata."""
    import numpy as np

    from marketdata.lake import partition_dates

    days = partition_dates(table, "ts")
    paths = []
    md = engine.metadata(state)
    for d in np.unique(days):
        part = table.filter(pa.array(days == d))
        path = f"{out_dir.rstrip('/')}/features_1m/date={d}/part-0.parquet"
        write_parquet_atomic(part, path, md)
        paths.append(path)
    return paths

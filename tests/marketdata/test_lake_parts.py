"""A day partition is every ``part-*.parquet`` in it: ``part-0`` as a batch write leaves it, or the files a
streaming writer (the Flink job) committed; a hidden in-progress file is not data, and a batch rewrite of the day
replaces every part."""

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq

from marketdata.lake import Lake
from marketdata.schemas import TS


def trades(symbols: list[str], minute: int) -> pa.Table:
    n = len(symbols)
    ts = pa.array([1_772_461_800_000_000_000 + minute * 60_000_000_000] * n, pa.int64()).cast(TS)
    return pa.table({"symbol": symbols, "ts": ts, "price": [10.0] * n, "size": [1.0] * n, "seq": list(range(n))})


def test_a_day_is_all_its_parts_and_a_rewrite_replaces_them(tmp_path):
    lake = Lake(str(tmp_path))
    day = dt.date(2026, 3, 2)
    lake.write("trades", trades(["A", "B"], 1))
    d = tmp_path / "trades" / f"date={day}"
    pq.write_table(trades(["C"], 2), d / "part-flink-0c1d-0-0.parquet")  # committed by a streaming writer
    pq.write_table(trades(["D"], 3), d / ".part-flink-0c1d-0-1.parquet.inprogress.77")  # not committed yet
    assert sorted(lake.read("trades", [day]).column("symbol").to_pylist()) == ["A", "B", "C"]
    assert sorted(lake.read("trades").column("symbol").to_pylist()) == ["A", "B", "C"]
    lake.write("trades", trades(["E"], 4))  # the day again, from the batch path: one part-0 only
    assert lake.read("trades", [day]).column("symbol").to_pylist() == ["E"]
    assert [p.rsplit("/", 1)[1] for p in lake.parts("trades", day)] == ["part-0.parquet"]

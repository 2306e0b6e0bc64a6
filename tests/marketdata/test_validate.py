import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from marketdata.lake import Lake, read_table, write_parquet_atomic
from marketdata.schemas import BARS_1M
from marketdata.validate import ContractError, conform, validate

T0 = int(dt.datetime(2026, 3, 2, 14, 31, tzinfo=dt.UTC).timestamp()) * 10**9


def bars(n=3, **over):
    cols = {
        "symbol": ["A"] * n,
        "ts": pa.array([T0 + i * 60 * 10**9 for i in range(n)], pa.int64()).cast(pa.timestamp("ns", tz="UTC")),
        "open": [10.0] * n,
        "high": [11.0] * n,
        "low": [9.0] * n,
        "close": [10.5] * n,
        "volume": [100.0] * n,
        "vwap": [10.2] * n,
        "trades": pa.array([3] * n, pa.int32()),
        "bid": [10.4] * n,
        "ask": [10.6] * n,
        "bid_size": [100.0] * n,
        "ask_size": [100.0] * n,
        "halted": [False] * n,
    }
    cols.update(over)
    return pa.table(cols)


def test_good_bars_pass():
    t = conform(bars(), "bars_1m", "good.parquet")
    assert t.schema.equals(BARS_1M.remove_metadata())


@pytest.mark.parametrize(
    "over, column, row, words",
    [
        ({"close": [10.5, -1.0, 10.5]}, "close", 1, "non-positive"),
        ({"high": [11.0, 11.0, 10.0]}, "high", 2, "high"),
        ({"low": [9.0, 10.8, 9.0]}, "low", 1, "low"),
        ({"volume": [1.0, 2.0, -3.0]}, "volume", 2, "negative"),
        (
            {
                "symbol": ["A", "A", "A"],
                "ts": pa.array([T0, T0 + 60 * 10**9, T0], pa.int64()).cast(pa.timestamp("ns", tz="UTC")),
            },
            "symbol,ts",
            2,
            "duplicate",
        ),
        (
            {
                "ts": pa.array([T0, T0 + 60 * 10**9 + 5, T0 + 120 * 10**9], pa.int64()).cast(
                    pa.timestamp("ns", tz="UTC")
                )
            },
            "ts",
            1,
            "minute",
        ),
    ],
)
def test_each_violation_names_file_column_and_row(over, column, row, words):
    with pytest.raises(ContractError) as e:
        conform(bars(**over), "bars_1m", "vendor.parquet")
    err = e.value
    assert (err.source, err.column, err.row) == ("vendor.parquet", column, row)
    assert words in str(err) and "vendor.parquet" in str(err)


def test_missing_column_wrong_type_naive_and_non_utc():
    with pytest.raises(ContractError, match="missing required column") as e:
        conform(bars().drop(["close"]), "bars_1m", "f.csv")
    assert e.value.column == "close"
    with pytest.raises(ContractError, match="does not convert"):
        conform(bars(volume=["a", "b", "c"]), "bars_1m", "f.csv")
    naive = pa.array([T0 + i * 60 * 10**9 for i in range(3)], pa.int64()).cast(pa.timestamp("ns"))
    with pytest.raises(ContractError, match="naive"):
        conform(bars(ts=naive), "bars_1m", "f.csv")
    ny = pa.array([T0 + i * 60 * 10**9 for i in range(3)], pa.int64()).cast(pa.timestamp("ns", tz="America/New_York"))
    with pytest.raises(ContractError, match="America/New_York"):
        conform(bars(ts=ny), "bars_1m", "f.csv")


def test_validate_rejects_unconformed_types():
    with pytest.raises(ContractError, match="expected"):
        validate(bars(trades=pa.array([1, 2, 3], pa.int64())), "bars_1m")


def test_lake_roundtrip_partitions_and_reader_forms(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    t = conform(bars(), "bars_1m")
    assert lake.write("bars_1m", t) == [dt.date(2026, 3, 2)]
    assert lake.dates("bars_1m") == [dt.date(2026, 3, 2)]
    part = tmp_path / "lake" / "bars_1m" / "date=2026-03-02" / "part-0.parquet"
    assert part.exists()
    for path in (tmp_path / "lake", tmp_path / "lake" / "bars_1m", part):
        assert read_table(str(path), "bars_1m").num_rows == 3
    assert lake.read("bars_1m", symbols=["B"]).num_rows == 0


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / "out" / "x.parquet"

    def boom(table, where, **kw):
        with open(where, "wb") as f:  # half a file, then a crash
            f.write(b"PAR1 partial")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", boom)
    with pytest.raises(OSError, match="disk full"):
        write_parquet_atomic(conform(bars(), "bars_1m"), str(target))
    assert not target.exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_bad_data_never_reaches_the_lake(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    with pytest.raises(ContractError):
        lake.write("bars_1m", bars(high=[11.0, 1.0, 11.0]))
    assert not (tmp_path / "lake" / "bars_1m").exists()


def test_unique_check_scales():
    n = 200_000
    t = bars(
        n=n,
        symbol=np.repeat(np.array(["A", "B"]), n // 2).tolist(),
        ts=pa.array(np.tile(T0 + np.arange(n // 2) * 60 * 10**9, 2), pa.int64()).cast(pa.timestamp("ns", tz="UTC")),
    )
    conform(t, "bars_1m")

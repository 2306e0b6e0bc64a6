"""Grouping many files' rows by day, in memory or spilled to disk, gives the same day tables."""

import pyarrow as pa
import pytest

from marketdata.bulk import DaySpill, expand, symbol_of
from marketdata.simulator import MarketSimulator, SimConfig


def test_spilled_days_equal_days_held_in_memory():
    days = [d.bars for d in MarketSimulator(SimConfig(symbols=15, days=3, seed=2)).days()]
    files = [
        t.filter(pa.compute.equal(t.column("symbol"), s))
        for t in days
        for s in t.column("symbol").unique()[:5].to_pylist()
    ]
    held, spilled = DaySpill("bars_1m"), DaySpill("bars_1m", max_rows=500)  # a file's rows spill every few files
    for f in files:
        held.add(f)
        spilled.add(f)
    assert spilled.spilled and held.days() == spilled.days() and len(held.days()) == 3
    for d in held.days():
        assert held.take(d).equals(spilled.take(d))
    spilled.close()


def test_names_and_paths(tmp_path):
    assert symbol_of("x/MSFT.csv.gz") == "MSFT" and symbol_of("BRK.B.csv") == "BRK.B"
    with pytest.raises(ValueError, match="finds no symbol"):
        symbol_of("notes.md", r"^(\d+)")
    (tmp_path / "b.csv").write_text("x")
    (tmp_path / "a.parquet").write_text("x")
    (tmp_path / "readme.md").write_text("x")
    assert [p.rsplit("/", 1)[1] for p in expand([str(tmp_path)])] == ["a.parquet", "b.csv"]
    assert expand([str(tmp_path / "b.csv"), str(tmp_path / "*.csv")]) == [str(tmp_path / "b.csv")]  # once


def test_a_zip_of_one_data_file_is_read_and_of_several_refused(tmp_path):
    import zipfile

    from marketdata.loaders import read_any

    with zipfile.ZipFile(tmp_path / "one.zip", "w") as z:
        z.writestr("AAPL.csv", "symbol,x\nAAPL,1\nAAPL,2\n")
        z.writestr("README.md", "notes")
    assert read_any(str(tmp_path / "one.zip")).column("x").to_pylist() == [1, 2]
    assert symbol_of(str(tmp_path / "AAPL.csv.zip")) == "AAPL"
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as z:
        z.writestr("A.csv", "x\n1\n")
        z.writestr("B.csv", "x\n2\n")
    with pytest.raises(ValueError, match=r"found A.csv, B.csv\): unzip it"):
        read_any(str(tmp_path / "two.zip"))


def test_landing_from_a_spill_on_disk_equals_landing_from_memory(tmp_path):
    """The checked day tables are what is written, whether the rows were held or spilled (before and after the
    check)."""
    from marketdata.bulk import land
    from marketdata.lake import Lake

    days = [d.bars for d in MarketSimulator(SimConfig(symbols=15, days=2, seed=5)).days()]
    lakes = []
    for max_rows in (5_000_000, 500):
        spill = DaySpill("bars_1m", max_rows=max_rows)
        for t in days:
            spill.add(t)
        lk = Lake(str(tmp_path / str(max_rows)))
        assert len(land(lk, "bars_1m", spill, "test")) == 2 and spill.days() == []
        lakes.append(lk.read("bars_1m").sort_by([("symbol", "ascending"), ("ts", "ascending")]))
    assert lakes[0].num_rows == sum(t.num_rows for t in days) and lakes[0].equals(lakes[1])

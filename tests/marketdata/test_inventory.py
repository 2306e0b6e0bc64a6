"""`tickwise lake`: what a lake holds, from the Parquet footers, with missing sessions and mixed versions shown."""

import datetime as dt
import json
import shutil

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from marketdata.inventory import describe, inventory, other_folders, rejects_by_reason
from marketdata.lake import Lake
from marketdata.pipeline import simulate_to_lake
from marketdata.simulator import SimConfig
from tickwise.cli import app


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Lake:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("inv") / "lake"
    lk = Lake(str(root))
    simulate_to_lake(SimConfig(symbols=20, days=4, seed=3), lk)
    shutil.rmtree(lk.path("bars_1m", dt.date(2026, 3, 4)))  # a session lost in the middle
    for day, version in ((dt.date(2026, 3, 2), "aaa"), (dt.date(2026, 3, 3), "bbb")):  # two definitions
        rows = pa.table({"symbol": ["X", "Y"], "ts": pa.array([1, 2], pa.timestamp("ns", "UTC")), "f": [0.1, 0.2]})
        lk.write_partition("features_1m", day, rows.replace_schema_metadata({"tickwise.feature_set_version": version}))
    return lk


def test_a_dataset_is_described_from_its_files(lake):
    bars = describe(lake, "bars_1m")
    all_rows = lake.read("bars_1m").num_rows
    assert (bars["days"], bars["first"], bars["last"]) == (3, "2026-03-02", "2026-03-05")
    assert bars["missing"] == ["2026-03-04"] and bars["rows"] == all_rows and bars["symbols"] >= 20
    assert bars["bytes"] > 0 and bars["versions"] == {}
    feats = describe(lake, "features_1m")
    assert feats["versions"] == {"aaa": 1, "bbb": 1} and feats["rows"] == 4 and feats["symbols"] == 2
    ref = describe(lake, "reference")  # unpartitioned: no days, every symbol
    assert (
        ref["days"] == 0 and ref["first"] is None and ref["rows"] == ref["symbols"] == lake.read("reference").num_rows
    )
    assert [d["dataset"] for d in inventory(lake)] == sorted(d["dataset"] for d in inventory(lake))


def test_rejects_are_counted_by_source_and_reason(lake):
    from marketdata.rejects import replace_rejects

    rej = pa.table(
        {
            "source": ["ingest:trades"] * 3,
            "symbol": ["X", "X", "Y"],
            "ts": pa.array([1, 2, 3], pa.timestamp("ns", "UTC")),
            "seq": pa.array([1, 2, 3], pa.int64()),
            "reason": ["non-positive price", "non-positive price", "negative size"],
        }
    )
    replace_rejects(lake, dt.date(1970, 1, 1), rej, ["ingest:trades"])
    got = [(r["reason"], r["rows"]) for r in rejects_by_reason(lake) if r["source"] == "ingest:trades"]
    assert got == [("non-positive price", 2), ("negative size", 1)]


def test_the_command_prints_tables_and_json(lake):
    r = CliRunner().invoke(app, ["lake", "--lake", lake.root])
    assert r.exit_code == 0, r.output
    assert "missing sessions bars_1m: 2026-03-04" in r.output and "features_1m mixes feature-set versions" in r.output
    j = json.loads(CliRunner().invoke(app, ["lake", "--lake", lake.root, "--json"]).output)
    assert {d["dataset"] for d in j["datasets"]} >= {"bars_1m", "features_1m", "reference"}


def test_an_empty_lake_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no datasets"):
        inventory(Lake(str(tmp_path / "nothing")))


def test_reports_and_the_pipelines_own_folders_are_listed_apart_and_no_rejects_says_so(tmp_path):
    root = tmp_path / "lake"
    lk = Lake(str(root))
    simulate_to_lake(SimConfig(symbols=13, days=1, seed=1), lk)
    for folder in ("_assets", "reports/evaluation/date=2026-03-02", "engine_state/date=2026-03-02"):
        (root / folder).mkdir(parents=True)
        (root / folder / "part.bin").write_bytes(b"0" * 100)
    assert not {"_assets", "reports", "engine_state"} & {d["dataset"] for d in inventory(lk)}
    assert other_folders(lk) == [{"folder": n, "bytes": 100} for n in ("_assets", "engine_state", "reports")]
    r = CliRunner().invoke(app, ["lake", "--lake", lk.root])
    assert r.exit_code == 0, r.output
    assert "rejects: none" in r.output
    assert "other folders (not datasets): _assets (100 B), engine_state (100 B), reports (100 B)" in r.output

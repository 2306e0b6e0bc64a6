"""FFD's d as a setting: chosen on training bars (`tickwise ffd-d`), then the same d in every engine — the
commands, the Dagster assets, the scorer — and a d that the feature's name cannot carry is refused up front."""

import datetime as dt
import json

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.engine import FeatureEngine
from features.io import BarDays, log_closes
from marketdata.lake import Lake
from marketdata.pipeline import simulate_to_lake
from marketdata.schemas import CORPORATE_ACTIONS, TS
from marketdata.simulator import SimConfig
from orchestration.settings import TickwiseSettings
from serving.app.settings import ServeSettings
from tests.cli.test_cli import run
from tests.orchestration.test_label_price import materialize


def test_log_closes_undo_splits_and_sample_the_universe():
    ts = pa.array(np.arange(6) * 86_400_000_000_000 + 1_772_460_000_000_000_000, pa.int64()).cast(TS)
    bars = pa.table({"symbol": ["A"] * 6 + ["B"] * 6, "ts": pa.concat_arrays([ts, ts]),
                     "close": [10.0, 10.2, 10.1, 5.1, 5.0, 5.2] + [20.0] * 6})  # fmt: skip
    split = pa.table(
        {"symbol": ["A"], "ex_date": [dt.date(2026, 3, 5)], "split_ratio": [2.0], "cash_dividend": [0.0]},
        schema=CORPORATE_ACTIONS,
    )
    got = log_closes(BarDays.of(bars), split, max_symbols=5)
    np.testing.assert_allclose(np.exp(got["A"]), [5.0, 5.1, 5.05, 5.1, 5.0, 5.2])  # no halving on the ex-date
    assert list(log_closes(BarDays.of(bars), None, max_symbols=1)) == ["A"]


def test_ffd_d_command_then_features_with_that_d(tmp_path):
    lake = tmp_path / "lake"
    simulate_to_lake(SimConfig(symbols=30, days=3, seed=4), Lake(str(lake)))
    r = run("ffd-d", "--bars", str(lake), "--json", str(tmp_path / "d.json"), "--plot", str(tmp_path / "d.png"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "d.png").read_bytes()[:4] == b"\x89PNG"
    got = json.loads((tmp_path / "d.json").read_text())
    picks = [v for v in got["by_symbol"].values() if v is not None]
    assert got["symbols_tested"] == len(picks) > 20 and np.mean(np.array(picks) <= got["d"] + 1e-9) >= 0.9
    assert f"TICKWISE_FFD_D={got['d']:g}" in r.stdout.replace("\n", " ")
    r = run("features", "--bars", str(lake), "--out", str(tmp_path / "f"), "--ffd-d", "0.35")
    assert r.returncode == 0, r.stderr
    f = pq.read_table(next((tmp_path / "f" / "features_1m").glob("*/part-0.parquet")))
    assert "ffd_35" in f.column_names and "ffd_40" not in f.column_names
    assert f.schema.metadata[b"tickwise.feature_set_version"].decode() == FeatureEngine(ffd_d=0.35).version
    r = run("features", "--bars", str(lake), "--out", str(tmp_path / "g"), "--ffd-d", "0.333")
    assert r.returncode != 0 and "--ffd-d (TICKWISE_FFD_D) must have at most two decimals" in r.stderr


@pytest.mark.parametrize("bad", [0, 2.5, 0.333])
def test_a_bad_d_names_the_setting(bad):
    for cls in (TickwiseSettings, ServeSettings):
        with pytest.raises(ValueError, match="ffd_d"):
            cls(ffd_d=bad)


def test_the_features_asset_uses_the_setting(tmp_path):
    simulate_to_lake(SimConfig(symbols=20, days=1, seed=6), Lake(str(tmp_path / "landing")))
    s = TickwiseSettings(lake=str(tmp_path / "lake"), landing=str(tmp_path / "landing"), ffd_d=0.3,
                         partitions_start=dt.date(2026, 3, 2), partitions_end=dt.date(2026, 3, 3))  # fmt: skip
    with dg.instance_for_test() as instance:
        materialize(s, instance, ["reference", "corporate_actions"])
        keys = ["raw_trades", "raw_quotes", "bars_1m", "features_1m"]
        assert materialize(s, instance, keys, partition_key="2026-03-02").success
    f = Lake(s.lake).read("features_1m", [dt.date(2026, 3, 2)])
    assert "ffd_30" in f.column_names and "ffd_40" not in f.column_names

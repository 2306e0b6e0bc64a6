"""``tickwise flink bars`` over a lake's tick files writes the bars the lake's own (Python) aggregation wrote."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from marketdata.lake import Lake
from marketdata.pipeline import simulate_to_lake
from marketdata.simulator import SimConfig
from tickwise.cli import app

pytestmark = pytest.mark.skipif(
    shutil.which("java") is None or shutil.which("mvn") is None, reason="the Flink job needs java and mvn"
)


def test_flink_bars_over_lake_files_writes_the_lakes_bars(tmp_path):
    src = Lake(str(tmp_path / "lake"))
    simulate_to_lake(SimConfig(symbols=14, days=1, seed=17, jump_rate=3e-4), src, ticks=True)
    day = src.dates("trades")[0]
    assert src.exists("halts"), "the simulated day needs a halt"
    out = tmp_path / "out"
    args = ["flink", "bars", "--out", str(out), "--json"]
    for kind in ("trades", "quotes", "halts"):
        args += [f"--{kind}", src.path(kind, day) if kind != "halts" else src.path(kind)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["days"] == [day.isoformat()] and summary["rejects"] == 0
    got, want = Lake(str(out)).read("bars_1m", [day]), src.read("bars_1m", [day])
    assert summary["bars"] == got.num_rows == want.num_rows
    assert got.equals(want)


def test_flink_bars_names_a_missing_file(tmp_path):
    args = ["flink", "bars", "--trades", str(tmp_path / "nope"), "--out", str(tmp_path)]
    r = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert r.exit_code != 0
    assert "no such file or folder" in r.output

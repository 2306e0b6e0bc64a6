"""The CLI explains itself, fails in one clear line, and ingests user files through the validator."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features import codes
from features.batch import fold
from features.engine import FeatureEngine
from marketdata.lake import Lake, table_metadata
from marketdata.pipeline import simulate_to_lake
from marketdata.simulator import SimConfig
from tests.conftest import TAQ_RAW_TZ, shared_data

COMMANDS = [
    [],
    ["simulate"],
    ["ingest"],
    ["ingest", "bars"],
    ["ingest", "trades"],
    ["ingest", "quotes"],
    ["ingest", "corporate-actions"],
    ["ingest", "reference"],
    ["aggregate"],
    ["validate"],
    ["bench"],
    ["bench", "simulator"],
    ["bench", "features"],
    ["bench", "scorer"],
    ["features"],
    ["replay"],
    ["ffd-d"],
    ["lake"],
    ["audit-features"],
    ["walkforward"],
    ["serve"],
]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tickwise.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "root")
def test_every_command_has_help(cmd):
    r = run(*cmd, "--help")
    assert r.returncode == 0 and "Usage" in r.stdout and len(r.stdout) > 200
    assert "<bool>" not in r.stdout  # a flag takes no value


def test_serve_help_shows_the_settings_in_force_and_the_endpoints(monkeypatch):
    monkeypatch.setenv("TICKWISE_HTTP_PORT", "9911")
    monkeypatch.setenv("COLUMNS", "200")
    out = run("serve", "--help").stdout
    assert "(now 9911; env TICKWISE_HTTP_PORT)" in out and "(now inprocess; env TICKWISE_MODE)" in out
    assert "direction_model" in out and "TICKWISE_MLFLOW_TRACKING_URI" in out
    assert all(p in out for p in ("/signals", "/health", "/metrics"))


def test_error_is_one_line_without_traceback(tmp_path):
    r = run("validate", str(tmp_path / "missing.parquet"))
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and "missing.parquet" in r.stderr and "Traceback" not in r.stderr
    r = run("--debug", "validate", str(tmp_path / "missing.parquet"))
    assert r.returncode == 1 and "Traceback" in r.stderr


def test_bench_scorer_refuses_a_negative_history_before_any_work():
    r = run("bench", "scorer", "--history-days", "-1")
    assert r.returncode != 0 and "--history-days" in r.stderr and "Traceback" not in r.stderr


def test_features_and_replay_run_day_by_day_and_equal_one_continuous_fold(tmp_path):
    root = str(tmp_path / "lake")
    simulate_to_lake(SimConfig(symbols=20, days=3, seed=4), Lake(root))
    lake = Lake(root)
    for cmd, out in (("features", "offline"), ("replay", "online")):
        r = run(cmd, "--bars", root, "--out", str(tmp_path / out))
        assert r.returncode == 0, r.stderr
        assert "3 day(s)" in r.stdout and "peak RSS" in r.stdout
    engine = FeatureEngine(lake.read("reference"), lake.read("corporate_actions"))
    continuous, st = fold(engine, lake.read("bars_1m"))
    key = [("symbol", "ascending"), ("ts", "ascending")]
    want = continuous.sort_by(key)
    for out in ("offline", "online"):
        days = Lake(str(tmp_path / out)).dates("features_1m")
        assert days == lake.dates("bars_1m")
        got = pa.concat_tables(
            [Lake(str(tmp_path / out)).read("features_1m", [d]) for d in days], promote_options="default"
        ).sort_by(key)
        assert got.column_names == want.column_names and got.num_rows == want.num_rows
        for name in engine.names:  # bit for bit, NaN where the continuous fold has NaN
            a = got.column(name).to_numpy(zero_copy_only=False)
            b = want.column(name).to_numpy(zero_copy_only=False)
            assert np.array_equal(a, b, equal_nan=True), name
        meta = {d.isoformat(): table_metadata(f"{tmp_path}/{out}/features_1m/date={d}/part-0.parquet") for d in days}
        assert {m["tickwise.feature_set_version"] for m in meta.values()} == {engine.version}
        assert codes.of_days(meta)["symbol_id"] == st.symbols  # each day coded as far as the run had got
    written = pq.ParquetFile(f"{tmp_path}/offline/features_1m/date={days[0]}/part-0.parquet").metadata.row_group(0)
    encodings = {written.column(j).path_in_schema: written.column(j).encodings for j in range(written.num_columns)}
    assert "RLE_DICTIONARY" in encodings["symbol"] and "RLE_DICTIONARY" not in encodings["rsi_14"]


def test_features_from_one_file_without_reference_or_actions(tmp_path):
    root = str(tmp_path / "lake")
    simulate_to_lake(SimConfig(symbols=15, days=2, seed=6), Lake(root))
    pq.write_table(Lake(root).read("bars_1m"), tmp_path / "bars.parquet")
    r = run("features", "--bars", str(tmp_path / "bars.parquet"), "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    got = Lake(str(tmp_path / "out")).read("features_1m")
    assert Lake(str(tmp_path / "out")).dates("features_1m") == Lake(root).dates("bars_1m")
    assert got.num_rows == Lake(root).read("bars_1m").num_rows
    assert (
        json.loads(
            table_metadata(f"{tmp_path}/out/features_1m/date={Lake(root).dates('bars_1m')[0]}/part-0.parquet")[
                "tickwise.sector_codes"
            ]
        )
        == []
    )


def test_simulate_then_validate_and_aggregate(tmp_path):
    lake = str(tmp_path / "lake")
    r = run("simulate", "--symbols", "20", "--days", "2", "--out", lake, "--ticks")
    assert r.returncode == 0, r.stderr
    assert Lake(lake).dates("trades") and Lake(lake).dates("bars_1m")
    assert run("validate", lake).returncode == 0
    r = run("aggregate", "--lake", lake)
    assert r.returncode == 0 and "0 rejects" in r.stderr + r.stdout


def test_ingest_bars_csv_with_mapping_and_tz(tmp_path):
    csv = tmp_path / "bars.csv"
    pd.DataFrame(
        {
            "Date": ["2026-03-02 09:30:00", "2026-03-02 09:31:00"],
            "Open": [10, 10.2],
            "High": [10.3, 10.4],
            "Low": [9.9, 10.1],
            "Close": [10.2, 10.3],
            "Volume": [1000, 1200],
        }
    ).to_csv(csv, index=False)
    lake = str(tmp_path / "lake")
    r = run(
        "ingest",
        "bars",
        str(csv),
        "--map",
        "ts=Date,open=Open,high=High,low=Low,close=Close,volume=Volume",
        "--tz",
        "America/New_York",
        "--symbol",
        "ACME",
        "--lake",
        lake,
    )
    assert r.returncode == 0, r.stderr
    t = Lake(lake).read("bars_1m").to_pandas()
    assert str(t["ts"].iloc[0]) == "2026-03-02 14:31:00+00:00"  # start-stamped 09:30 NY -> end stamp 14:31 UTC
    assert t["vwap"].between(t["low"], t["high"]).all()


def test_ingest_rejects_bad_file_naming_row(tmp_path):
    csv = tmp_path / "bad.csv"
    pd.DataFrame(
        {
            "ts": ["2026-03-02 14:30:00", "2026-03-02 14:31:00"],
            "open": [10, 10],
            "high": [10.5, 9.0],
            "low": [9.5, 9.5],
            "close": [10.2, 10.1],
            "volume": [1, 1],
        }
    ).to_csv(csv, index=False)
    r = run("ingest", "bars", str(csv), "--symbol", "X", "--lake", str(tmp_path / "lake"))
    assert r.returncode == 1 and "bad.csv" in r.stderr and "row 1" in r.stderr and "'high'" in r.stderr
    assert not (tmp_path / "lake" / "bars_1m").exists()


def test_ingest_real_one_minute_file(tmp_path):
    f = shared_data("taq-highfrequency") / "one_minute_stock_market.parquet"
    r = run(
        "ingest",
        "bars",
        str(f),
        "--map",
        "ts=DT,open=STOCK,high=STOCK,low=STOCK,close=STOCK",
        "--symbol",
        "STOCK",
        "--tz",
        "America/New_York",
        "--no-session-only",  # the sample's dates are pseudonymised: a third fall on weekends
        "--lake",
        str(tmp_path / "lake"),
    )
    assert r.returncode == 0, r.stderr
    assert Lake(str(tmp_path / "lake")).read("bars_1m").num_rows == 8602


def test_ingest_taq_trades_and_quotes(tmp_path):
    d = shared_data("taq-highfrequency")
    lake = str(tmp_path / "lake")
    r = run(
        "ingest",
        "trades",
        str(d / "trades_raw_XXX_2018-01-02_03.parquet"),
        "--map",
        "ts=DT,correction=CORR,exchange=EX",
        "--tz",
        TAQ_RAW_TZ,
        "--lake",
        lake,
    )
    assert r.returncode == 0, r.stderr
    assert "warning" not in r.stdout, r.stdout
    r = run(
        "ingest",
        "quotes",
        str(d / "quotes_raw_XXX_2018-01-02_03.parquet"),
        "--map",
        "ts=DT,ask=OFR,bid_size=BIDSIZ,ask_size=OFRSIZ,exchange=EX",
        "--tz",
        TAQ_RAW_TZ,
        "--size-scale",
        "100",
        "--nbbo",
        "--lake",
        lake,
    )
    assert r.returncode == 0, r.stderr
    r = run("aggregate", "--lake", lake)
    assert r.returncode == 0, r.stderr
    bars = Lake(lake).read("bars_1m").to_pandas()
    per_day = bars.groupby(bars["ts"].dt.date).size()
    assert len(per_day) == 2 and per_day.between(385, 390).all()  # whole sessions of a liquid stock
    assert Lake(lake).read("rejects").num_rows > 0


def test_ingest_warns_when_the_file_clock_looks_like_another_zone(tmp_path):
    """The raw TAQ sample is UTC; read as New York time, most of its session would be cut: the command says so."""
    d = shared_data("taq-highfrequency")
    args = ["ingest", "trades", str(d / "trades_raw_XXX_2018-01-02_03.parquet"), "--map", "ts=DT,correction=CORR"]
    r = run(*args, "--tz", "America/New_York", "--lake", str(tmp_path / "lake"))
    assert r.returncode == 0, r.stderr
    out = " ".join(r.stdout.split())
    assert "warning:" in out and "run again with --tz UTC" in out, out


@pytest.mark.parametrize("command", ["features", "replay", "walkforward"])
def test_bars_without_rows_are_a_clear_error(tmp_path, command):
    import pyarrow.parquet as pq

    from marketdata.schemas import BARS_1M

    pq.write_table(BARS_1M.empty_table(), tmp_path / "empty.parquet")
    r = run(command, "--bars", str(tmp_path / "empty.parquet"), "--out", str(tmp_path / "out"))
    assert r.returncode == 1 and "empty.parquet: no bars_1m rows" in r.stderr, r.stderr


def test_walkforward_refuses_an_unknown_label_price_before_any_work(tmp_path):
    r = run("walkforward", "--bars", str(tmp_path / "none"), "--out", str(tmp_path / "o"), "--label-price", "last")
    assert r.returncode == 1 and "--label-price must be 'close' or 'mid', got 'last'" in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "args, says",
    [
        (("walkforward", "--horizon", "0"), "'--horizon'"),  # 0 had run the features, then failed on the folds
        (("walkforward", "--k", "0"), "'--k'"),  # 0 had run, and backtested an empty book
        (("walkforward", "--max-spread-bps", "0"), "--max-spread-bps must be > 0"),  # a screen nothing passes
        (("simulate", "--days", "0"), "'--days'"),  # 0 had failed on "list index out of range"
        (("simulate", "--days", "2", "--regime-shift", "2"), "(--regime-shift) 2 is not one of the 2 simulated days"),
    ],
)
def test_values_that_would_compute_nothing_are_refused_before_any_work(tmp_path, args, says):
    where = ("--bars", str(tmp_path / "none")) if args[0] == "walkforward" else ()
    r = run(*args, *where, "--out", str(tmp_path / "o"))
    assert r.returncode in (1, 2) and says in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()


def test_walkforward_warns_when_the_backtest_has_no_quoted_spread(tmp_path):
    """Vendor bars without quotes: the backtest can charge only the fee and trades the close, and says so."""
    lake = Lake(str(tmp_path / "lake"))
    simulate_to_lake(SimConfig(symbols=20, days=3, seed=2), lake)
    for d in lake.dates("bars_1m"):
        t = lake.read("bars_1m", [d])
        for c in ("bid", "ask", "bid_size", "ask_size"):
            t = t.set_column(t.schema.get_field_index(c), c, pa.nulls(t.num_rows, t.schema.field(c).type))
        lake.write("bars_1m", t)
    r = run("walkforward", "--bars", str(tmp_path / "lake"), "--out", str(tmp_path / "wf"), "--folds", "2")
    assert r.returncode == 0, r.stderr
    assert "100% of the test events had no quoted spread" in " ".join(r.stdout.split())
    assert json.loads((tmp_path / "wf" / "metrics.json").read_text())["quoted_share"] == 0.0

"""The Dagster shell: one loadable Definitions, raw-data assets materialize with their checks."""

import datetime as dt

import dagster as dg
import pandas as pd
import pytest

from assets.bar_checks import BarTally, run_bar_checks
from marketdata.lake import Lake
from marketdata.pipeline import simulate_to_lake
from marketdata.simulator import SimConfig
from orchestration.definitions import build_definitions
from orchestration.settings import TickwiseSettings


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    root = tmp_path_factory.mktemp("landing")
    simulate_to_lake(SimConfig(symbols=30, days=2, seed=4), Lake(str(root)), ticks=True)
    return str(root)


def settings(tmp_path, landing) -> TickwiseSettings:
    return TickwiseSettings(
        lake=str(tmp_path / "lake"),
        landing=landing,
        partitions_start=dt.date(2026, 3, 2),
        partitions_end=dt.date(2026, 3, 10),
    )


def test_definitions_load(tmp_path, landing):
    defs = build_definitions(settings(tmp_path, landing))
    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"raw_trades", "raw_quotes", "bars_1m", "corporate_actions", "reference"} <= keys


def test_every_asset_names_its_owner_and_kind_and_every_check_says_what_it_asserts(tmp_path, landing):
    defs = build_definitions(settings(tmp_path, landing))
    specs = list(defs.resolve_all_asset_specs())
    assert len(specs) >= 14
    for spec in specs:
        assert spec.owners and all(o.startswith("team:") for o in spec.owners), spec.key
        assert spec.kinds, spec.key
    graph = defs.resolve_asset_graph()
    assert len(graph.asset_check_keys) >= 11
    for key in graph.asset_check_keys:
        assert (graph.get_check_spec(key).description or "").strip(), key


def test_partitions_are_trading_days(tmp_path, landing):
    defs = build_definitions(settings(tmp_path, landing))
    pdef = defs.resolve_assets_def("bars_1m").partitions_def
    assert pdef.get_partition_keys()[:6] == [
        "2026-03-02",
        "2026-03-03",
        "2026-03-04",
        "2026-03-05",
        "2026-03-06",
        "2026-03-09",
    ]


def test_bad_config_names_the_field():
    with pytest.raises(Exception, match="deployment"):
        TickwiseSettings(deployment="staging")


def test_materialize_range_in_one_run_with_checks(tmp_path, landing):
    defs = build_definitions(settings(tmp_path, landing))
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey(k) for k in ("raw_trades", "raw_quotes", "bars_1m")],
            tags={
                "dagster/asset_partition_range_start": "2026-03-02",
                "dagster/asset_partition_range_end": "2026-03-03",
            },
        )
        assert result.success
        checks = result.get_asset_check_evaluations()
        assert len(checks) == 6 and all(c.passed for c in checks)
        counted = {
            (node, m.partition): m.metadata["dagster/row_count"].value
            for node in ("raw_trades", "raw_quotes", "bars_1m")
            for m in result.asset_materializations_for_node(node)
        }
    lake = Lake(str(tmp_path / "lake"))
    assert lake.dates("bars_1m") == [dt.date(2026, 3, 2), dt.date(2026, 3, 3)]
    assert lake.read("bars_1m").num_rows > 10_000
    days = {"2026-03-02": dt.date(2026, 3, 2), "2026-03-03": dt.date(2026, 3, 3)}
    # a single run over the range records each day with that day's own rows (the UI's per-partition row count)
    assert counted == {
        (node, key): lake.read(ds, [day]).num_rows
        for node, ds in (("raw_trades", "trades"), ("raw_quotes", "quotes"), ("bars_1m", "bars_1m"))
        for key, day in days.items()
    }


def test_refused_ticks_land_in_rejects_with_their_reasons(tmp_path, landing):
    """A malformed tick in the landing zone is never dropped: bars_1m writes it to the lake's rejects with a reason,
    and a re-run that no longer refuses it replaces that day's rejects."""
    import shutil

    import pyarrow as pa
    import pyarrow.compute as pc

    src = tmp_path / "landing"
    shutil.copytree(landing, src)
    day = dt.date(2026, 3, 3)
    lk = Lake(str(src))
    trades = lk.read("trades", [day])
    corr = trades.column("correction").to_numpy(zero_copy_only=False).copy()
    corr[10] = 1  # the source corrected this print: the aggregator must refuse it, with that reason
    i = trades.column_names.index("correction")
    lk.write_partition("trades", day, trades.set_column(i, trades.schema.field(i), pa.array(corr, pa.int8())))
    bad = trades.slice(10, 1)
    s = settings(tmp_path, str(src))
    job = build_definitions(s).resolve_implicit_global_asset_job_def()
    keys = [dg.AssetKey(k) for k in ("raw_trades", "raw_quotes", "bars_1m")]
    with dg.instance_for_test() as instance:
        r = job.execute_in_process(
            instance=instance,
            asset_selection=keys,
            tags={
                "dagster/asset_partition_range_start": "2026-03-02",
                "dagster/asset_partition_range_end": "2026-03-03",
            },
        )
        assert r.success
        refused = {
            m.partition: m.metadata["rejected_ticks"].value for m in r.asset_materializations_for_node("bars_1m")
        }
        assert refused == {"2026-03-02": 0, "2026-03-03": 1}  # each day its own
        rejects = Lake(s.lake).read("rejects")
        assert rejects.num_rows == 1
        row = rejects.to_pylist()[0]
        assert (row["source"], row["symbol"], row["seq"]) == ("trades", bad["symbol"][0].as_py(), bad["seq"][0].as_py())
        assert row["reason"] == "corrected or cancelled by the source"
        lk.write_partition("trades", day, trades)  # the source corrects the day; the re-run refuses nothing
        job.execute_in_process(instance=instance, asset_selection=keys, partition_key="2026-03-03")
        assert Lake(s.lake).read("rejects").num_rows == 0
        assert pc.sum(Lake(s.lake).read("bars_1m", [day]).column("trades")).as_py() == trades.num_rows


def test_gx_checks_fail_on_bad_bars():
    bars = pd.DataFrame(
        {
            "symbol": ["A", "A"],
            "ts": pd.to_datetime([1, 1], utc=True),
            "open": [1.0, 1.0],
            "high": [0.5, 2.0],
            "low": [0.4, 0.9],
            "close": [1.0, 1.0],
            "volume": [1.0, -1.0],
            "halted": [False, True],
        }
    )
    out = {c.name: c for c in run_bar_checks(bars)}
    assert not out["ohlc_consistent"].passed and out["ohlc_consistent"].metadata["unexpected_rows"] >= 1
    assert not out["nonnegative_volume"].passed
    assert not out["unique_keys"].passed
    assert not out["halted_share"].passed and out["halted_share"].metadata["threshold"] == 0.02
    assert out["positive_prices"].passed


def test_bar_checks_summed_over_days_catch_a_bad_day_and_weigh_every_row():
    """A range is checked a day at a time: a bad second day fails the range, shares are over all days' rows."""
    good = pd.DataFrame(
        {
            "symbol": ["A", "B"],
            "ts": pd.to_datetime(["2026-03-02 14:31", "2026-03-02 14:31"], utc=True),
            "open": [1.0, 2.0],
            "high": [1.1, 2.1],
            "low": [0.9, 1.9],
            "close": [1.0, 2.0],
            "volume": [5.0, 6.0],
            "halted": [False, False],
        }
    )
    bad = good.assign(ts=pd.to_datetime(["2026-03-03 14:31"] * 2, utc=True), high=[0.5, 2.1], halted=[True, False])
    out = {c.name: c for c in BarTally().add(good).add(bad).outcomes()}
    # the bad row's high is below its open and its close: two expectations fail on it
    assert not out["ohlc_consistent"].passed and out["ohlc_consistent"].metadata == {
        "unexpected_rows": 2,
        "rows": 4,
        "threshold": 0,
    }
    assert out["positive_prices"].passed and out["unique_keys"].passed
    assert out["halted_share"].metadata["halted_share"] == 0.25 and not out["halted_share"].passed
    assert out["bars_per_session"].metadata["max_bars_per_symbol_day"] == 1
    assert all(c.passed for c in BarTally().add(good).add(good.assign(ts=bad.ts)).outcomes())


def _materialize_bars(job, instance) -> None:
    job.execute_in_process(
        instance=instance, asset_selection=[dg.AssetKey("reference"), dg.AssetKey("corporate_actions")]
    )
    job.execute_in_process(
        instance=instance,
        asset_selection=[dg.AssetKey(k) for k in ("raw_trades", "raw_quotes", "bars_1m")],
        tags={"dagster/asset_partition_range_start": "2026-03-02", "dagster/asset_partition_range_end": "2026-03-03"},
    )


def _assert_equals_one_continuous_fold(lake_root: str) -> None:
    import pyarrow.parquet as pq

    from features.batch import fold
    from features.engine import FeatureEngine

    lake = Lake(lake_root)
    engine = FeatureEngine(lake.read("reference"), lake.read("corporate_actions"))
    continuous, _ = fold(engine, lake.read("bars_1m"))
    backfilled = pq.read_table(f"{lake_root}/features_1m", partitioning=None)
    by_key = [("symbol", "ascending"), ("ts", "ascending")]  # each day's file is in (symbol, ts) order
    backfilled = backfilled.select(continuous.column_names).sort_by(by_key)
    assert backfilled.equals(continuous.replace_schema_metadata(None).sort_by(by_key))
    for day in ("2026-03-02", "2026-03-03"):
        meta = pq.read_schema(f"{lake_root}/features_1m/date={day}/part-0.parquet").metadata
        assert meta[b"tickwise.feature_set_version"].decode() == engine.version


def test_features_backfill_by_day_equals_one_continuous_run(tmp_path, landing):
    """Backfill day by day (each run reloading the previous day's engine state) == one continuous fold."""
    s = settings(tmp_path, landing)
    job = build_definitions(s).resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        _materialize_bars(job, instance)
        with pytest.raises(dg.Failure, match="needs the engine state of 2026-03-02"):
            job.execute_in_process(
                instance=instance, asset_selection=[dg.AssetKey("features_1m")], partition_key="2026-03-03"
            )
        for day in ("2026-03-02", "2026-03-03"):
            r = job.execute_in_process(
                instance=instance, asset_selection=[dg.AssetKey("features_1m")], partition_key=day
            )
            assert r.success
            assert all(c.passed for c in r.get_asset_check_evaluations()), r.get_asset_check_evaluations()
    _assert_equals_one_continuous_fold(s.lake)


def test_features_range_in_one_run_goes_day_by_day_and_equals_one_continuous_run(tmp_path, landing):
    """A single-run backfill over a range writes each day as it goes (the IO manager only records it), checks all
    days, and equals one continuous fold."""
    s = settings(tmp_path, landing)
    job = build_definitions(s).resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        _materialize_bars(job, instance)
        r = job.execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey("features_1m")],
            tags={
                "dagster/asset_partition_range_start": "2026-03-02",
                "dagster/asset_partition_range_end": "2026-03-03",
            },
        )
        assert r.success
        evals = r.get_asset_check_evaluations()
        assert len(evals) == 3 and all(c.passed for c in evals), evals
        mat = r.asset_materializations_for_node("features_1m")
        assert {m.partition for m in mat} == {"2026-03-02", "2026-03-03"}
        rows = {m.partition: m.metadata["dagster/row_count"].value for m in mat}
    _assert_equals_one_continuous_fold(s.lake)
    # each day's materialization counts that day's rows, not the run's (the two days differ)
    lake = Lake(s.lake)
    assert rows == {f"2026-03-0{d}": lake.read("features_1m", [dt.date(2026, 3, d)]).num_rows for d in (2, 3)}


def test_a_landing_row_that_breaks_the_contract_is_set_aside_not_fatal(tmp_path, landing):
    """A print with a zero price in the landing zone (written past the ingest's check) does not fail the day: the
    rest lands, the row goes to rejects with its reason, and bars_1m's own rejects leave it there."""
    import shutil

    import pyarrow as pa

    src = tmp_path / "landing"
    shutil.copytree(landing, src)
    day = dt.date(2026, 3, 3)
    lk = Lake(str(src))
    trades = lk.read("trades", [day])
    price = trades.column("price").to_numpy().copy()
    price[5] = 0.0
    i = trades.column_names.index("price")
    lk.write_partition("trades", day, trades.set_column(i, trades.schema.field(i), pa.array(price)))
    s = settings(tmp_path, str(src))
    job = build_definitions(s).resolve_implicit_global_asset_job_def()
    keys = [dg.AssetKey(k) for k in ("raw_trades", "raw_quotes", "bars_1m")]
    with dg.instance_for_test() as instance:
        r = job.execute_in_process(instance=instance, asset_selection=keys, partition_key="2026-03-03")
        assert r.success
        assert r.asset_materializations_for_node("raw_trades")[0].metadata["set_aside"].value == 1
    out = Lake(s.lake)
    assert out.read("trades", [day]).num_rows == trades.num_rows - 1
    landed = out.read("trades", [day])
    same = (landed.column("symbol").to_numpy(zero_copy_only=False) == trades["symbol"][5].as_py()) & (
        landed.column("seq").to_numpy() == trades["seq"][5].as_py()
    )
    assert not same.any()
    rej = out.read("rejects", [day]).to_pylist()
    assert [(x["source"], x["seq"], x["reason"]) for x in rej] == [
        ("landing:trades", trades["seq"][5].as_py(), "non-positive or NaN price in price: 0.0")
    ]

"""Features served by the scorer (shadow log) equal the offline features_1m, row for row, feature for feature."""

import datetime as dt

import dagster as dg
import pytest
from rich.console import Console

from marketdata.lake import Lake
from marketdata.pipeline import simulate_to_lake
from marketdata.simulator import SimConfig
from orchestration.definitions import build_definitions
from orchestration.settings import TickwiseSettings
from serving.app.runtime import run_serve
from serving.app.settings import ServeSettings
from tests.webhook import Webhook

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
CHECK = dg.AssetCheckKey(dg.AssetKey("features_1m"), "online_offline_consistency")


@pytest.mark.slow
def test_online_offline_consistency_is_zero_on_a_simulated_day(tmp_path):
    simulate_to_lake(SimConfig(symbols=30, days=2, seed=6), Lake(str(tmp_path / "landing")), ticks=True)
    s = TickwiseSettings(
        lake=str(tmp_path / "lake"),
        landing=str(tmp_path / "landing"),
        partitions_start=dt.date(2026, 3, 2),
        partitions_end=dt.date(2026, 3, 4),
        mlflow_tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
    )
    defs = build_definitions(s)
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as inst:
        job.execute_in_process(
            instance=inst,
            run_config=QUIET,
            asset_selection=[dg.AssetKey("reference"), dg.AssetKey("corporate_actions")],
        )
        r = job.execute_in_process(
            instance=inst,
            run_config=QUIET,
            asset_selection=[dg.AssetKey(k) for k in ("raw_trades", "raw_quotes", "bars_1m", "features_1m")],
            tags={
                "dagster/asset_partition_range_start": "2026-03-02",
                "dagster/asset_partition_range_end": "2026-03-03",
            },
        )
        assert r.success
        check_job = defs.resolve_job_def("online_offline_consistency_job")
        with pytest.raises(dg.Failure, match="no served features logged"):  # nothing served yet: says so
            check_job.execute_in_process(instance=inst, run_config=QUIET, partition_key="2026-03-03")
        # the scorer replays the day from ticks (same aggregator, same engine, state of the previous day)
        hook = Webhook()  # the scorer's alerts go where the Dagster alerts go
        try:
            run_serve(
                ServeSettings(
                    mode="inprocess",
                    lake=s.lake,
                    mlflow_tracking_uri=s.mlflow_tracking_uri,
                    compile_trees=False,
                    http_port=0,
                    alert_webhook_url=hook.url,
                ),
                "2026-03-03",
                None,
                Console(quiet=True),
            )
        finally:
            hook.close()
        assert [b["text"] for b in hook.received] == [  # no model registered: the fallback served, and said so
            "*live scorer*\nno champion in the registry: serving the momentum fallback"
        ]
        r = check_job.execute_in_process(instance=inst, run_config=QUIET, partition_key="2026-03-03")
        ev = r.get_asset_check_evaluations()[0]
        md = {k: v.value for k, v in ev.metadata.items()}
        assert ev.passed, md
        assert md["mismatches"] == 0 and md["rows_compared"] > 5000 and md["served_only"] == 0

"""Labels -> training set -> model -> champion_gate -> champion, through Dagster with a real MLflow registry."""

import datetime as dt
from pathlib import Path

import dagster as dg
import numpy as np
import pyarrow.parquet as pq
import pytest

from features import codes
from marketdata.lake import Lake
from marketdata.pipeline import simulate_to_lake
from marketdata.simulator import SimConfig
from modeling import registry
from orchestration.definitions import build_definitions
from orchestration.settings import TickwiseSettings

pytestmark = pytest.mark.slow
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("retrain")
    simulate_to_lake(SimConfig(symbols=60, days=4, seed=21, lead_lag=0.8), Lake(str(root / "landing")))
    s = TickwiseSettings(
        lake=str(root / "lake"),
        landing=str(root / "landing"),
        partitions_start=dt.date(2026, 3, 2),
        partitions_end=dt.date(2026, 3, 7),
        mlflow_tracking_uri=f"sqlite:///{root}/mlflow.db",
        window_days=3,
    )
    defs = build_definitions(s)
    job = defs.resolve_implicit_global_asset_job_def()
    instance = dg.DagsterInstance.ephemeral()
    job.execute_in_process(
        instance=instance,
        run_config=QUIET,
        asset_selection=[dg.AssetKey("reference"), dg.AssetKey("corporate_actions")],
    )
    r = job.execute_in_process(
        instance=instance,
        run_config=QUIET,
        asset_selection=[
            dg.AssetKey(k) for k in ("raw_trades", "raw_quotes", "bars_1m", "features_1m", "triple_barrier_labels")
        ],
        tags={"dagster/asset_partition_range_start": "2026-03-02", "dagster/asset_partition_range_end": "2026-03-05"},
    )
    assert r.success
    return s, defs, instance


def retrain(defs, instance):
    job = defs.resolve_job_def("weekly_retrain_job")
    return job.execute_in_process(instance=instance, partition_key="2026-03-05", run_config=QUIET, raise_on_error=False)


def test_champion_moves_only_through_the_gate(world):
    s, defs, instance = world
    first = retrain(defs, instance)
    gate = [c for c in first.get_asset_check_evaluations() if c.check_name == "champion_gate"]
    assert len(gate) == 1
    md = {k: v.value for k, v in gate[0].metadata.items()}
    assert {"challenger_logloss", "baseline_logloss", "challenger_ic", "baseline_ic", "threshold"} <= set(md)
    assert md["ic_edge_vs_baseline"] == pytest.approx(md["challenger_ic"] - md["baseline_ic"], abs=0.02)
    assert np.isfinite(md["ic_edge_t_vs_baseline"])
    v1 = registry.version_of("challenger", s.mlflow_tracking_uri)
    assert v1 is not None
    # the version keeps the training window's codes: the newest day's, which hold every earlier day's
    newest = Lake(s.lake).path("features_1m", dt.date(2026, 3, 5)) + "/part-0.parquet"
    kept = registry.load(v1, s.mlflow_tracking_uri).codes
    assert kept == codes.from_metadata(pq.read_schema(newest).metadata) and len(kept["symbol_id"]) == 60
    import mlflow

    mlflow.set_tracking_uri(s.mlflow_tracking_uri)
    run_id = mlflow.MlflowClient().get_model_version(registry.MODEL_NAME, v1).run_id
    logged = [a.path for a in mlflow.MlflowClient().list_artifacts(run_id, "plots")]
    assert logged == ["plots/importance.png"]
    # the evaluation page links its MLflow and Dagster runs, and the index of reports lists it
    (ev,) = [e for e in first.get_asset_materialization_events() if e.asset_key == dg.AssetKey("model_evaluation")]
    md_ev = ev.step_materialization_data.materialization.metadata
    page = Path(md_ev["report"].value).read_text()
    assert md_ev["mlflow_run"].value in page and f"/runs/{first.run_id}" in page
    assert "evaluation/date=2026-03-05/index.html" in Path(md_ev["reports_index"].value).read_text()
    champ = registry.version_of("champion", s.mlflow_tracking_uri)
    promoted = [e for e in first.get_asset_materialization_events() if e.asset_key == dg.AssetKey("champion_model")]
    if gate[0].passed:
        assert champ == v1 and promoted
        loaded = registry.load("champion", s.mlflow_tracking_uri)
        assert loaded.trees > 0 and len(loaded.checksum) == 64
    else:
        assert champ is None and not promoted
    # the same data again: an identical challenger cannot beat the champion it equals
    second = retrain(defs, instance)
    gate2 = [c for c in second.get_asset_check_evaluations() if c.check_name == "champion_gate"][0]
    assert registry.version_of("challenger", s.mlflow_tracking_uri) != v1
    # a refusal is a valid outcome: the run succeeds, the check is a warning saying why first, champion_model is
    # skipped, and the version in MLflow says what the gate decided
    for run, g in ((first, gate[0]), (second, gate2)):
        assert run.success, "a gate refusal must not fail the run"
        assert g.severity == dg.AssetCheckSeverity.WARN and next(iter(g.metadata)) == "reasons"
        assert g.description == ("promoted: " if g.passed else "refused: ") + g.metadata["reasons"].value
    v2 = registry.version_of("challenger", s.mlflow_tracking_uri)
    mv = mlflow.MlflowClient().get_model_version(registry.MODEL_NAME, v2)
    assert mv.tags["gate"] == ("promoted" if gate2.passed else "refused") and gate2.metadata["reasons"].value in (
        mv.description or ""
    )
    if gate[0].passed:
        assert not gate2.passed and "champion" in gate2.metadata["reasons"].value
        skipped = [e for e in second.get_asset_materialization_events() if e.asset_key == dg.AssetKey("champion_model")]
        assert not skipped
        assert gate2.metadata["ic_edge_vs_champion"].value == 0.0  # the same model: no edge, not a noisy one
        assert registry.version_of("champion", s.mlflow_tracking_uri) == v1


def test_schedule_requests_the_latest_partition(world):
    _, defs, instance = world
    sched = defs.resolve_schedule_def("weekly_retrain_schedule")
    ctx = dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=dt.datetime(2026, 3, 7, 6, tzinfo=dt.UTC),
        repository_def=defs.get_repository_def(),
    )
    req = sched.evaluate_tick(ctx).run_requests[0]
    assert req.partition_key == "2026-03-06" and req.run_key == "weekly-2026-03-06"

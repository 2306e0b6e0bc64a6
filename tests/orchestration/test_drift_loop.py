"""The closed loop on the simulator's regime shift, through Dagster: drift_report -> psi_alert_sensor (webhook)
and adversarial_drift_sensor -> exactly one weekly_retrain_job run, which promotes only through champion_gate."""

import datetime as dt
import json
import re
from pathlib import Path

import dagster as dg
import pytest

from marketdata.calendar import sessions
from marketdata.lake import Lake
from marketdata.pipeline import simulate_to_lake
from marketdata.simulator import SimConfig
from orchestration.definitions import build_definitions
from orchestration.settings import TickwiseSettings
from tests.webhook import Webhook

pytestmark = pytest.mark.slow
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
START, DAYS, SHIFT, WINDOW = dt.date(2026, 3, 2), 15, 10, 5


@pytest.fixture(scope="module")
def hook():
    h = Webhook()
    yield h
    h.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory, hook):
    root = tmp_path_factory.mktemp("drift")
    simulate_to_lake(
        SimConfig(symbols=60, days=DAYS, seed=5, start=START, regime_shift_day=SHIFT), Lake(str(root / "landing"))
    )
    days = sessions(START, DAYS)
    s = TickwiseSettings(
        lake=str(root / "lake"),
        landing=str(root / "landing"),
        partitions_start=START,
        partitions_end=days[-1] + dt.timedelta(days=1),
        mlflow_tracking_uri=f"sqlite:///{root}/mlflow.db",
        window_days=WINDOW,
        alert_webhook_url=hook.url,
    )
    defs = build_definitions(s)
    instance = dg.DagsterInstance.ephemeral()
    job = defs.resolve_implicit_global_asset_job_def()
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
        tags={"dagster/asset_partition_range_start": str(days[0]), "dagster/asset_partition_range_end": str(days[-1])},
    )
    assert r.success
    return s, defs, instance, [str(d) for d in days]


def _report(defs, instance, key):
    r = defs.resolve_job_def("drift_report_job").execute_in_process(
        instance=instance, partition_key=key, run_config=QUIET
    )
    assert r.success
    (mat,) = r.asset_materializations_for_node("drift_report")
    link = mat.metadata["mlflow_run"]  # a link to the run's page in the MLflow UI, not a bare id
    assert isinstance(link, dg.UrlMetadataValue), link
    assert re.fullmatch(r"http://127\.0\.0\.1:5000/#/experiments/\d+/runs/[0-9a-f]{32}", link.url), link.url
    page = Path(mat.metadata["report"].value).read_text()  # the page links its runs and the index of reports
    assert link.url in page and f"http://127.0.0.1:3000/runs/{r.run_id}" in page and "../../index.html" in page
    assert f"drift/date={key}/index.html" in Path(mat.metadata["reports_index"].value).read_text()
    return r.output_for_node("drift_report")


def _tick(defs, instance, name, cursor=None):
    sensor = defs.resolve_sensor_def(name)
    ctx = dg.build_sensor_context(
        instance=instance, cursor=cursor, repository_def=defs.get_repository_def(), resources=defs.resources
    )
    return sensor.evaluate_tick(ctx)


def test_regime_shift_drives_one_alert_and_one_gated_retrain(world, hook):
    s, defs, instance, days = world
    before = _report(defs, instance, days[SHIFT - 1])  # last week 0-4 vs this week 5-9: both calm
    assert before["adversarial_auc"] < s.adversarial_auc_threshold
    assert Path(before["html"]).exists() and Path(before["evidently_html"]).stat().st_size > 100_000
    adv = _tick(defs, instance, "adversarial_drift_sensor")
    assert not adv.run_requests and "<= threshold 0.6" in adv.skip_message
    cursor = adv.cursor

    after = _report(defs, instance, days[-1])  # last week 5-9 calm vs this week 10-14 in the crisis regime
    assert after["adversarial_auc"] > s.adversarial_auc_threshold
    assert before["going_missing"] == after["going_missing"] == {}  # the crisis widens spreads; none goes missing
    top = [k for k, _ in after["adversarial_top"][:3]]
    assert {"atr_14", "rv_ewm_30", "rv_ewm_5", "spread_bps", "spread_bps_ewm_5", "bb_width_20"} & set(top)
    adv2 = _tick(defs, instance, "adversarial_drift_sensor", cursor)
    assert len(adv2.run_requests) == 1
    req = adv2.run_requests[0]
    assert req.partition_key == days[-1] and req.run_key.startswith(f"adversarial-retrain-{days[-1]}-")
    # judged once: the next tick sees no new report; a reset cursor derives the same run key (Dagster dedupes it)
    assert not _tick(defs, instance, "adversarial_drift_sensor", adv2.cursor).run_requests
    assert _tick(defs, instance, "adversarial_drift_sensor", None).run_requests[0].run_key == req.run_key

    psi = _tick(defs, instance, "psi_alert_sensor", cursor)
    assert len(psi.run_requests) == 1 and psi.run_requests[0].run_key.startswith(f"psi-alert-{days[-1]}-")
    alert = defs.resolve_job_def("psi_alert_job").execute_in_process(
        instance=instance, run_config={**QUIET, **psi.run_requests[0].run_config}
    )
    assert alert.success
    assert len(hook.received) == 1
    body = hook.received[0]
    assert "PSI" in body["text"] and body["tickwise"]["partition"] == days[-1]
    assert all(v > s.psi_threshold for v in body["tickwise"]["psi"].values())
    assert "mkt_vol" not in body["tickwise"]["psi"]

    retrain = defs.resolve_job_def("weekly_retrain_job").execute_in_process(
        instance=instance,
        partition_key=req.partition_key,
        run_config=QUIET,
        tags=req.tags,
        raise_on_error=False,
    )
    gate = [c for c in retrain.get_asset_check_evaluations() if c.check_name == "champion_gate"]
    assert len(gate) == 1
    promoted = [e for e in retrain.get_asset_materialization_events() if e.asset_key == dg.AssetKey("champion_model")]
    assert bool(promoted) == gate[0].passed
    assert retrain.dagster_run.tags["tickwise/trigger"] == "adversarial_drift"


def test_quiet_report_skips_with_value_and_threshold(world):
    s, defs, instance, days = world
    rep = json.loads(json.dumps(_report(defs, instance, days[SHIFT - 1])))
    tick = _tick(defs, instance, "psi_alert_sensor")  # latest report only
    over = {k: v for k, v in rep["psi"].items() if v > s.psi_threshold and k not in s.psi_ignore}
    if over:
        assert len(tick.run_requests) == 1
    else:
        assert "max PSI" in tick.skip_message and f"threshold {s.psi_threshold}" in tick.skip_message


def test_run_failure_sensor_alerts_through_the_sink(world, hook):
    _, defs, instance, _ = world

    @dg.op
    def boom() -> None:
        raise RuntimeError("disk full")

    @dg.job
    def failing_job() -> None:
        boom()

    r = failing_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not r.success
    n = len(hook.received)
    ctx = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert_sensor",
        dagster_event=r.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=r.dagster_run,
        resources={"alert_sink": defs.resources["alert_sink"]},
    ).for_run_failure()
    defs.resolve_sensor_def("run_failure_alert_sensor")(ctx)
    assert len(hook.received) == n + 1
    got = hook.received[-1]
    assert "failing_job" in got["text"] and got["tickwise"]["key"] == f"run-failure-{r.run_id}"


def test_prod_resources_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("TICKWISE_ALERT_WEBHOOK_URL", raising=False)
    defs = build_definitions(TickwiseSettings(deployment="prod"))
    res = defs.resources
    assert isinstance(res["redis"].url, dg.EnvVar) and res["redis"].url.env_var_name == "TICKWISE_REDIS_URL"
    assert isinstance(res["kafka"].bootstrap_servers, dg.EnvVar)
    assert isinstance(res["lake"].root, dg.EnvVar) and isinstance(res["mlflow"].tracking_uri, dg.EnvVar)
    assert res["alert_sink"].webhook_url is None  # log-only until a webhook is configured
    defs.get_repository_def()  # every job, sensor and schedule resolves


def test_daily_drift_schedule_reports_the_day_that_just_closed(world):
    _, defs, instance, days = world
    sched = defs.resolve_schedule_def("daily_drift_schedule")
    d = dt.date.fromisoformat(days[-1])
    ctx = dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=dt.datetime(d.year, d.month, d.day, 22, 30, tzinfo=dt.UTC),
        repository_def=defs.get_repository_def(),
    )
    req = sched.evaluate_tick(ctx).run_requests[0]
    assert req.partition_key == days[-1] and req.run_key == f"drift-{days[-1]}"

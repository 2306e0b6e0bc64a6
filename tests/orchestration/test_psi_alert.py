"""psi_alert_sensor -> psi_alert_job on drift_report materializations, without building a market: a report whose
PSI is quiet but whose spreads went missing alerts once, naming the features and their missing shares."""

import datetime as dt

import dagster as dg
import pytest

from orchestration.definitions import build_definitions
from orchestration.settings import TickwiseSettings
from tests.webhook import Webhook

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
DAY = "2026-03-13"


@pytest.fixture
def setup(tmp_path):
    hook = Webhook()
    s = TickwiseSettings(
        lake=str(tmp_path / "lake"),
        partitions_start=dt.date(2026, 3, 2),
        partitions_end=dt.date(2026, 3, 14),
        mlflow_tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
        alert_webhook_url=hook.url,
    )
    yield build_definitions(s), dg.DagsterInstance.ephemeral(), hook
    hook.close()


def _report(instance, psi: dict, going_missing: dict) -> None:
    md = {"psi": dg.MetadataValue.json(psi), "going_missing": dg.MetadataValue.json(going_missing)}
    instance.report_runless_asset_event(dg.AssetMaterialization("drift_report", partition=DAY, metadata=md))


def _tick(defs, instance):
    ctx = dg.build_sensor_context(instance=instance, repository_def=defs.get_repository_def(), resources=defs.resources)
    return defs.resolve_sensor_def("psi_alert_sensor").evaluate_tick(ctx)


def test_features_going_missing_alert_though_no_psi_is_over(setup):
    defs, instance, hook = setup
    _report(instance, {"spread_bps": 0.01, "atr_14": 0.05}, {"spread_bps": [0.0, 1.0], "obi": [0.02, 0.61]})
    tick = _tick(defs, instance)
    assert len(tick.run_requests) == 1
    req = tick.run_requests[0]
    assert req.tags["tickwise/trigger"] == "missing_values"
    assert (
        defs.resolve_job_def("psi_alert_job")
        .execute_in_process(instance=instance, run_config={**QUIET, **req.run_config})
        .success
    )
    body = hook.received[0]
    assert body["text"].startswith("*missing-value drift*\n2 feature(s) going missing on 2026-03-13")
    assert "spread_bps 0% -> 100%, obi 2% -> 61%" in body["text"] and "PSI" not in body["text"]
    assert body["tickwise"]["missing"] == {"spread_bps": [0.0, 1.0], "obi": [0.02, 0.61]}


def test_both_kinds_in_one_alert_and_a_quiet_report_skips(setup):
    defs, instance, hook = setup
    _report(instance, {"atr_14": 0.05}, {})
    tick = _tick(defs, instance)
    assert not tick.run_requests and "no feature going missing" in tick.skip_message
    _report(instance, {"atr_14": 0.9, "mkt_vol": 3.0}, {"spread_bps": [0.0, 0.5], "mkt_vol": [0.0, 1.0]})
    req = _tick(defs, instance).run_requests[0]
    assert req.tags["tickwise/trigger"] == "psi_drift"
    assert (
        defs.resolve_job_def("psi_alert_job")
        .execute_in_process(instance=instance, run_config={**QUIET, **req.run_config})
        .success
    )
    text = hook.received[0]["text"]
    assert text.startswith("*PSI drift and missing-value drift*\n1 feature(s) over PSI 0.2 on 2026-03-13: atr_14 0.90;")
    assert "1 feature(s) going missing on 2026-03-13 (share of rows): spread_bps 0% -> 50%" in text
    assert "mkt_vol" not in text  # ignored by the settings (market-wide context), for both kinds

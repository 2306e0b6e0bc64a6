"""The closed loop: drift_report materializations drive a PSI alert and an adversarial-drift retrain; any failed
run alerts through the same sink.

Both drift sensors watch ``drift_report`` (an asset sensor: its cursor is the last report seen, so each report is
judged once) and derive their run keys from the report (partition + the id of the run that wrote it), so even a reset cursor cannot
alert or retrain twice for the same report.
"""

from typing import Any

import dagster as dg

from monitoring.alerts import Alert
from orchestration.resources import AlertSinkResource

DRIFT_REPORT = dg.AssetKey("drift_report")


def _report(event: dg.EventLogEntry) -> tuple[str, dict[str, Any], str]:
    """(partition, metadata, report id): a report is one materialization, i.e. one run of one partition."""
    mat = event.asset_materialization
    if mat is None:
        raise ValueError(f"expected a drift_report materialization, got {event.dagster_event_type}")
    md = {k: v.value for k, v in mat.metadata.items()}
    return mat.partition or "", md, event.run_id[:8]


def build_psi_alert_sensor(job: Any, threshold: float, ignore: list[str]) -> dg.SensorDefinition:
    @dg.asset_sensor(
        asset_key=DRIFT_REPORT,
        name="psi_alert_sensor",
        job=job,
        description=f"Alert when a feature's PSI in a drift report passes {threshold}, or its share of missing "
        f"values rises past the report's limit (ignoring {ignore}).",
    )
    def psi_alert_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):  # type: ignore[no-untyped-def]
        partition, md, sid = _report(asset_event)
        psi = {k: float(v) for k, v in (md.get("psi") or {}).items() if k not in ignore}
        over = {k: v for k, v in psi.items() if v > threshold}
        gone = {k: [float(x) for x in v] for k, v in (md.get("going_missing") or {}).items() if k not in ignore}
        if not over and not gone:
            worst = max(psi.items(), key=lambda kv: kv[1], default=("none", 0.0))
            return dg.SkipReason(
                f"drift report {partition}: max PSI {worst[1]:.3f} ({worst[0]}) <= threshold {threshold}, "
                "no feature going missing"
            )
        key = f"psi-alert-{partition}-{sid}"
        return dg.RunRequest(
            run_key=key,
            run_config={
                "ops": {
                    "send_psi_alert": {
                        "config": {
                            "key": key,
                            "partition": partition,
                            "threshold": threshold,
                            "features": over,
                            "missing": gone,
                            "report": str(md.get("report", "")),
                        }
                    }
                }
            },
            tags={"tickwise/trigger": "psi_drift" if over else "missing_values", "tickwise/report": partition},
        )

    return psi_alert_sensor


def build_adversarial_drift_sensor(retrain_job: Any, threshold: float) -> dg.SensorDefinition:
    @dg.asset_sensor(
        asset_key=DRIFT_REPORT,
        name="adversarial_drift_sensor",
        job=retrain_job,
        description=f"Retrain (through champion_gate) when the adversarial AUC passes {threshold}.",
    )
    def adversarial_drift_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):  # type: ignore[no-untyped-def]
        partition, md, sid = _report(asset_event)
        auc = md.get("adversarial_auc")
        if auc is None:
            return dg.SkipReason(f"drift report {partition} has no adversarial AUC (less than two weeks of history)")
        if float(auc) <= threshold:
            return dg.SkipReason(f"drift report {partition}: adversarial AUC {float(auc):.3f} <= threshold {threshold}")
        top = md.get("adversarial_top") or []
        return dg.RunRequest(
            run_key=f"adversarial-retrain-{partition}-{sid}",
            partition_key=partition,
            tags={
                "tickwise/trigger": "adversarial_drift",
                "tickwise/adversarial_auc": f"{float(auc):.4f}",
                "tickwise/top_feature": str(top[0][0]) if top else "",
            },
        )

    return adversarial_drift_sensor


@dg.run_failure_sensor(name="run_failure_alert_sensor", description="Alert through the sink when any run fails.")
def run_failure_alert_sensor(context: dg.RunFailureSensorContext, alert_sink: AlertSinkResource) -> None:
    run = context.dagster_run
    msg = context.failure_event.message or "failed"
    alert_sink.sink(log=context.log.error).send(
        Alert(
            f"run-failure-{run.run_id}",
            f"run failed: {run.job_name}",
            f"run {run.run_id[:8]} of {run.job_name} failed: {msg}",
            {"run_id": run.run_id, "job": run.job_name, "partition": run.tags.get("dagster/partition", "")},
        )
    )

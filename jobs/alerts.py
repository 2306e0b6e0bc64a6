"""psi_alert_job: one op that sends a PSI drift alert through the configured sink (requested by the sensor with
a run key per report, so a report alerts exactly once even if the sensor is re-evaluated)."""

import dagster as dg

from monitoring.alerts import Alert
from orchestration.resources import AlertSinkResource


class PsiAlertConfig(dg.Config):
    key: str
    partition: str
    threshold: float
    features: dict[str, float]
    report: str = ""


@dg.op
def send_psi_alert(context: dg.OpExecutionContext, config: PsiAlertConfig, alert_sink: AlertSinkResource) -> None:
    worst = sorted(config.features.items(), key=lambda kv: -kv[1])
    text = (
        f"{len(worst)} feature(s) over PSI {config.threshold} on {config.partition}: "
        + ", ".join(f"{k} {v:.2f}" for k, v in worst[:8])
        + (f" — report {config.report}" if config.report else "")
    )
    fields = {"partition": config.partition, "threshold": config.threshold, "psi": dict(worst)}
    d = alert_sink.sink(log=context.log.warning).send(Alert(config.key, "PSI drift", text, fields))
    context.log.info(f"alert {d.key} delivered to {', '.join(d.delivered)}")


@dg.job(description="Send one PSI drift alert (log + webhook) for one drift report.")
def psi_alert_job() -> None:
    send_psi_alert()

"""psi_alert_job: one op that sends a drift alert (PSI over the threshold, or features going missing) through
the configured sink (requested by the sensor with a run key per report, so a report alerts exactly once even if
the sensor is re-evaluated)."""

import dagster as dg

from monitoring.alerts import Alert
from orchestration.resources import AlertSinkResource


class PsiAlertConfig(dg.Config):
    key: str
    partition: str
    threshold: float
    features: dict[str, float]  # over the PSI threshold: feature -> PSI
    missing: dict[str, list[float]] = {}  # going missing: feature -> [reference, current] share of missing values
    report: str = ""


@dg.op
def send_psi_alert(context: dg.OpExecutionContext, config: PsiAlertConfig, alert_sink: AlertSinkResource) -> None:
    worst = sorted(config.features.items(), key=lambda kv: -kv[1])
    parts = []
    if worst:
        parts.append(f"{len(worst)} feature(s) over PSI {config.threshold} on {config.partition}: " + _top(worst))
    if config.missing:
        rise = sorted(config.missing.items(), key=lambda kv: kv[1][0] - kv[1][1])  # the largest rise first
        gone = [(k, f"{a:.0%} -> {b:.0%}") for k, (a, b) in rise]
        parts.append(f"{len(gone)} feature(s) going missing on {config.partition} (share of rows): " + _top(gone))
    text = "; ".join(parts) + (f" — report {config.report}" if config.report else "")
    title = " and ".join(t for t, n in (("PSI drift", worst), ("missing-value drift", config.missing)) if n)
    fields = {
        "partition": config.partition,
        "threshold": config.threshold,
        "psi": dict(worst),
        "missing": config.missing,
    }
    d = alert_sink.sink(log=context.log.warning).send(Alert(config.key, title, text, fields))
    context.log.info(f"alert {d.key} delivered to {', '.join(d.delivered)}")


def _top(items: list) -> str:
    """The first eight ``(feature, value)`` pairs, readable."""
    return ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in items[:8])


@dg.job(description="Send one drift alert (PSI, missing values; log + webhook) for one drift report.")
def psi_alert_job() -> None:
    send_psi_alert()

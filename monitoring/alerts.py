"""Alert sinks: always the log; a Slack-compatible webhook (``{"text": ...}`` JSON POST) when a URL is set.

>>> sent = []
>>> sink = AlertSink(webhook_url=None, log=sent.append)
>>> sink.send(Alert("psi-2026-03-06", "PSI drift", "atr_14 PSI 0.88 > 0.2")).delivered
['log']
>>> sent[0]
'[tickwise] PSI drift: atr_14 PSI 0.88 > 0.2 (key psi-2026-03-06)'
"""

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("tickwise.alerts")


@dataclass(frozen=True)
class Alert:
    key: str  # idempotency key: the same report never alerts twice under one key
    title: str
    text: str
    fields: dict = field(default_factory=dict)

    def message(self) -> str:
        return f"[tickwise] {self.title}: {self.text} (key {self.key})"


@dataclass
class Delivery:
    key: str
    delivered: list[str]


class AlertDeliveryError(RuntimeError):
    """The webhook refused or could not be reached (the alert is still in the log)."""


class AlertSink:
    def __init__(
        self, webhook_url: str | None = None, timeout_s: float = 5.0, log: Callable[[str], None] | None = None
    ):
        self.webhook_url = webhook_url or None
        self.timeout_s = timeout_s
        self._log = log or (lambda m: logging.getLogger("tickwise.alerts").warning(m))

    def send(self, alert: Alert) -> Delivery:
        """Log the alert, then POST it to the webhook when one is configured; a failed POST raises (the caller's
        run fails and Dagster shows it) rather than pretending the alert went out."""
        self._log(alert.message())
        done = ["log"]
        if self.webhook_url:
            body = {
                "text": f"*{alert.title}*\n{alert.text}",
                "tickwise": {"key": alert.key, **alert.fields},
            }
            req = urllib.request.Request(
                self.webhook_url,
                data=json.dumps(body, default=str).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    if resp.status >= 300:
                        raise AlertDeliveryError(f"webhook answered HTTP {resp.status}")
            except (urllib.error.URLError, TimeoutError) as e:
                raise AlertDeliveryError(f"webhook {self.webhook_url} failed: {e}") from e
            done.append("webhook")
        return Delivery(alert.key, done)

"""The live scorer's alerts against a real local webhook: one per kind per interval, the rest counted; a dead or
hanging webhook never holds the caller."""

import socket
import time

from monitoring.alerts import AlertSink
from serving.app.alerting import LiveAlerts
from tests.webhook import Webhook


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_one_alert_per_kind_per_interval_and_the_next_says_how_many_were_held():
    hook, clock = Webhook(), Clock()
    try:
        alerts = LiveAlerts(AlertSink(hook.url, log=lambda _: None), every_s=300, clock=clock)
        for took in (33.1, 41.0, 35.2):  # a slow model every minute: one kind
            alerts(f"model 3 took {took} ms > 30 ms; fallback served")
            clock.now += 60
        alerts("circuit breaker tripped at 1772461800000000000: mean p_up 0.970, std 0")  # another kind
        clock.now = 301
        alerts("model 3 took 38.0 ms > 30 ms; fallback served")  # the interval is over: goes, with the count
        alerts.close()
        texts = [b["text"] for b in hook.received]
        assert texts == [
            "*live scorer*\nmodel 3 took 33.1 ms > 30 ms; fallback served",
            "*live scorer*\ncircuit breaker tripped at 1772461800000000000: mean p_up 0.970, std 0",
            "*live scorer*\nmodel 3 took 38.0 ms > 30 ms; fallback served (2 more like it held back in the last 300 s)",
        ]
        assert hook.received[2]["tickwise"]["held_back"] == 2
        assert alerts.counts == {"raised": 5, "sent": 3, "held_back": 2, "failed": 0}
    finally:
        hook.close()


def test_a_hanging_webhook_never_holds_the_caller_and_a_failure_is_counted():
    server = socket.socket()  # accepts connections, never answers
    server.bind(("127.0.0.1", 0))
    server.listen()
    try:
        url = f"http://127.0.0.1:{server.getsockname()[1]}/hook"
        alerts = LiveAlerts(AlertSink(url, timeout_s=1.0, log=lambda _: None), every_s=0)
        t0 = time.perf_counter()
        for k in range(3):
            alerts(f"model {k} failed (RuntimeError: boom); serving the fallback")
        assert time.perf_counter() - t0 < 0.05  # the cycle's thread only queued them
        alerts.close(timeout_s=10)
        assert alerts.counts == {"raised": 3, "sent": 0, "held_back": 0, "failed": 3}
    finally:
        server.close()


def test_without_a_webhook_alerts_go_to_the_log_only(caplog):
    alerts = LiveAlerts(None)
    alerts("no champion in the registry: serving the momentum fallback")
    alerts.close()
    assert "ALERT no champion in the registry" in caplog.text and alerts.counts["raised"] == 1

"""The live scorer's alerts (circuit breaker, model failures, fallback, a refused champion): always to the log, and
to the webhook the Dagster alerts use (``TICKWISE_ALERT_WEBHOOK_URL``) when one is set.

Delivery runs on its own thread: a slow or unreachable webhook never holds a scoring cycle (the sink waits up to
its timeout). A model that fails every minute must not page someone 390 times a day, so alerts are grouped by
their text with the numbers taken out (:func:`kind_of`): a kind delivered within ``every_s`` is held back and
counted, and its next delivery says how many were. A delivery that fails is logged as an error and counted
(``counts``, also on ``/health``); the scorer goes on.
"""

import logging
import queue
import re
import threading
import time
from collections.abc import Callable

from monitoring.alerts import Alert, AlertDeliveryError, AlertSink

log = logging.getLogger("tickwise.alerts")
_NUMBER = re.compile(r"[-+]?\d[\d.]*(?:e[-+]?\d+)?")


def kind_of(message: str) -> str:
    """An alert's kind: its text with every number replaced by ``#``.

    >>> kind_of("model 3 took 33.1 ms > 30 ms; fallback served")
    'model # took # ms > # ms; fallback served'
    >>> kind_of("circuit breaker tripped at 1772461800000000000: mean p_up 0.970, std 0")
    'circuit breaker tripped at #: mean p_up #, std #'
    """
    return _NUMBER.sub("#", message)


class LiveAlerts:
    """Callable as the scorer's ``alert``: ``alerts(message)``."""

    def __init__(
        self, sink: AlertSink | None, every_s: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.sink, self.every_s, self.clock = sink, every_s, clock
        self.counts = {"raised": 0, "sent": 0, "held_back": 0, "failed": 0}
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[Alert | None] = queue.Queue()
        self._thread = threading.Thread(target=self._deliver, name="tickwise-alerts", daemon=True)
        if sink is not None:
            self._thread.start()

    def __call__(self, message: str) -> None:
        log.warning("ALERT %s", message)
        with self._lock:
            self.counts["raised"] += 1
            if self.sink is None:
                return
            kind, now = kind_of(message), self.clock()
            if kind in self._last and now - self._last[kind] < self.every_s:
                self._held[kind] = self._held.get(kind, 0) + 1
                self.counts["held_back"] += 1
                return
            self._last[kind] = now
            held = self._held.pop(kind, 0)
        more = f" ({held} more like it held back in the last {self.every_s:.0f} s)" if held else ""
        key = f"scorer-{time.time_ns()}"
        self._queue.put(Alert(key, "live scorer", message + more, {"kind": kind, "held_back": held}))

    def _deliver(self) -> None:
        assert self.sink is not None
        while (alert := self._queue.get()) is not None:
            try:
                self.sink.send(alert)
                with self._lock:
                    self.counts["sent"] += 1
            except AlertDeliveryError as e:  # the message is in the log already; say it did not go out
                with self._lock:
                    self.counts["failed"] += 1
                log.error("alert %s not delivered: %s", alert.key, e)

    def close(self, timeout_s: float = 10.0) -> None:
        """Deliver what is queued (waiting up to ``timeout_s``), then stop the thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout_s)

"""Where signals go: a list (tests, the embedded default) or a Kafka topic (one Arrow IPC batch per minute).

The Kafka sink publishes from a thread of its own, so a slow moment in the client never holds a cycle. It is
exactly-once by minute across restarts: at start it reads the newest minute already on the topic and skips the
minutes up to it (a scorer restarted from its checkpoint replays a few minutes it had published). A broker outage
never stops scoring: the client retries, a send that still fails is queued again and alerted on once, and
:meth:`KafkaSignalSink.wait_delivered` lets the checkpoint writer wait (off the cycle path) until the minutes it
covers are on the topic, so a restart never skips a signal.
"""

import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING

import pyarrow as pa
from kafka.errors import KafkaError

from marketdata.schemas import SIGNALS

if TYPE_CHECKING:
    from serving.step.scorer import CycleResult

log = logging.getLogger(__name__)


def to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue().to_pybytes()


def from_ipc(blob: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(blob)).read_all()


class SignalSink(ABC):
    @abstractmethod
    def publish(self, cycle: "CycleResult") -> None:
        """Publish one minute's signals."""

    def flush(self) -> None:
        return None

    def wait_delivered(self, minute: int, timeout_s: float) -> bool:
        """True once every minute up to ``minute`` is delivered (at once for sinks that deliver as they publish)."""
        return True

    def resume(self) -> None:
        """This member (re)gains the input: skip what another member has published meanwhile (if it can know)."""
        return None


class ListSink(SignalSink):
    def __init__(self) -> None:
        self.batches: list[pa.Table] = []

    def publish(self, cycle: "CycleResult") -> None:
        self.batches.append(cycle.signals())

    def table(self) -> pa.Table:
        return pa.concat_tables(self.batches) if self.batches else SIGNALS.empty_table()


def last_minute_on(bootstrap: str, topic: str) -> int:
    """The newest minute (message key) on the signals topic, 0 if it is empty."""
    from kafka import TopicPartition

    from serving.io import kafka_io

    c = kafka_io.consumer(bootstrap, group=None, consumer_timeout_ms=2000)
    try:
        tps = [TopicPartition(topic, p) for p in (c.partitions_for_topic(topic) or ())]
        ends = c.end_offsets(tps) if tps else {}
        last = [tp for tp in tps if ends[tp] > 0]
        if not last:
            return 0
        c.assign(last)
        for tp in last:
            c.seek(tp, ends[tp] - 1)
        newest, deadline = 0, time.monotonic() + 10
        pending = set(last)
        while pending and time.monotonic() < deadline:
            for tp, msgs in c.poll(timeout_ms=500).items():
                for m in msgs:
                    newest = max(newest, int(m.key))
                pending.discard(tp)
        return newest
    finally:
        c.close()


class KafkaSignalSink(SignalSink):
    """One message per minute on ``topic``: key = the minute (ns), value = Arrow IPC of the signals."""

    def __init__(self, bootstrap: str, topic: str = "signals", alert: Callable[[str], None] | None = None):
        from serving.io import kafka_io

        kafka_io.ensure_topics(bootstrap, [topic])  # else the first send finds no topic and the client logs an ERROR
        self.bootstrap, self.topic = bootstrap, topic
        self.alert = alert or (lambda m: log.warning("ALERT %s", m))
        self.skip_through = last_minute_on(bootstrap, topic)  # published before a restart: not again
        self.producer = kafka_io.signal_producer(bootstrap)
        self.producer.partitions_for(topic)  # the topic's metadata now, not on the first minute's send
        self.queue: queue.Queue[tuple[int, pa.Table]] = queue.Queue()
        self.delivered = self.skip_through  # every minute up to this one is on the topic
        self.failures = 0
        self._cv = threading.Condition()
        self._failing = False
        threading.Thread(target=self._run, name="signal-publisher", daemon=True).start()

    def resume(self) -> None:
        """Another member may have published since this one started (a standby taking over): skip through the
        newest minute on the topic now."""
        on_topic = last_minute_on(self.bootstrap, self.topic)
        with self._cv:
            self.skip_through = max(self.skip_through, on_topic)
            self.delivered = max(self.delivered, on_topic)
            self._cv.notify_all()

    def publish(self, cycle: "CycleResult") -> None:
        if cycle.ts <= self.skip_through:
            return
        self.queue.put((cycle.ts, cycle.signals()))

    @property
    def backlog(self) -> int:
        """Minutes queued, not yet sent."""
        return self.queue.qsize()

    def _run(self) -> None:
        while True:
            ts, table = self.queue.get()
            value = to_ipc(table)
            while True:
                try:
                    self.producer.send(self.topic, key=str(ts).encode(), value=value).get()
                    break
                except KafkaError as e:  # the broker away or slow: retried, signals are never dropped
                    self.failures += 1
                    if not self._failing:
                        self._failing = True
                        self.alert(f"signals: minute {ts} not delivered to {self.topic!r} ({e}); retrying")
                    time.sleep(1.0)
            if self._failing:
                self._failing = False
                self.alert(f"signals: delivering to {self.topic!r} again (minute {ts})")
            with self._cv:
                self.delivered = max(self.delivered, ts)
                self._cv.notify_all()
            self.queue.task_done()

    def wait_delivered(self, minute: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._cv:
            while self.delivered < minute and time.monotonic() < deadline:
                self._cv.wait(0.05)
            return self.delivered >= minute

    def flush(self) -> None:
        self.queue.join()
        self.producer.flush()

"""Where a served minute goes, in the order latency asks for: the signal sink first (a minute's signal on the
topic is the end of the live path), then the online store, the latest-signal view the HTTP API reads, the shadow
log and the alerts. Dead letters go to their own sink. Every mode's loop emits through the same :class:`Outputs`.
"""

import datetime as dt
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from features.batch import features_table
from features.engine import FeatureEngine
from marketdata.lake import Lake
from serving.io.online_store import OnlineStore
from serving.io.sinks import SignalSink
from serving.step.ingest import DeadLetter
from serving.step.scorer import CycleResult

log = logging.getLogger(__name__)


class LatestSignals:
    """The newest signal per symbol for the HTTP API. Writing is O(1) per cycle (the cross-section is kept as
    is); the per-symbol view is assembled only when someone reads it."""

    def __init__(self) -> None:
        self._view: dict[str, tuple[int, float, str]] = {}
        self._pending: list[tuple[int, list[str], np.ndarray, str]] = []
        self._lock = threading.Lock()

    def update(self, ts: int, syms: list[str], p: np.ndarray, source: str) -> None:
        with self._lock:
            if self._pending and self._pending[-1][1] == syms:  # same cross-section: the older one is superseded
                self._pending[-1] = (ts, syms, p, source)
            else:
                self._pending.append((ts, syms, p, source))
            if len(self._pending) > 64:  # the cross-section keeps changing and nobody reads: bound the memory
                self._fold()

    def compact(self) -> None:
        """Fold pending cycles into the view; the loop calls it between cycles, so the backstop fold in
        :meth:`update` (65 cycles x 5,000 symbols: a 70-80 ms stall) never lands in a cycle."""
        with self._lock:
            self._fold()

    def _fold(self) -> None:
        for ts, syms, p, source in self._pending:
            self._view.update(zip(syms, ((ts, v, source) for v in p.tolist()), strict=True))
        self._pending = []

    def items(self):  # type: ignore[no-untyped-def]
        with self._lock:
            self._fold()
            return dict(self._view).items()

    def get(self, symbol: str) -> tuple[int, float, str] | None:
        """One symbol's newest signal, without copying the whole view."""
        with self._lock:
            self._fold()
            return self._view.get(symbol)


class ShadowLog:
    """Every served signal and feature row, held and written to the lake (``signals``, ``features_served``) every
    ``every`` minutes (0: only at :meth:`flush`), each to its own (UTC) day, beside the day's earlier runs' rows (a
    restart from the checkpoint replaces only its own minutes: :meth:`Lake.upsert_partition`)."""

    def __init__(self, lake: Lake, engine: FeatureEngine, every: int = 30, metadata: Callable[[], dict] = dict):
        self.lake, self.engine, self.every, self.metadata = lake, engine, every, metadata
        self.held: list[CycleResult] = []

    def add(self, c: CycleResult) -> None:
        if c.symbols:
            self.held.append(c)

    def due(self) -> bool:
        return bool(self.every) and len(self.held) >= self.every

    def flush(self) -> None:
        if not self.held:
            return
        days = np.array([c.ts for c in self.held], "datetime64[ns]").astype("datetime64[D]")
        for day in np.unique(days):
            mine = [c for c, d in zip(self.held, days, strict=True) if d == day]
            signals = pa.concat_tables([c.signals() for c in mine])
            date = day.astype(dt.date)
            self.lake.upsert_partition("signals", date, signals)
            syms = [s for c in mine for s in c.symbols]
            tss = [c.ts for c in mine for _ in c.symbols]
            feats = features_table(self.engine, syms, tss, [c.rows for c in mine])
            self.lake.upsert_partition("features_served", date, feats.replace_schema_metadata(self.metadata()))
        self.held = []


class DeadLetterSink(ABC):
    @abstractmethod
    def send(self, dead: list[DeadLetter]) -> None: ...

    def flush(self) -> None:
        return None


class ListDeadLetters(DeadLetterSink):
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    def send(self, dead: list[DeadLetter]) -> None:
        self.letters.extend(dead)


class KafkaDeadLetters(DeadLetterSink):
    """The dead-letter topic: key ``topic:partition:offset[:index]``, value the letter as JSON."""

    def __init__(self, bootstrap: str, topic: str):
        from serving.io import kafka_io

        kafka_io.ensure_topics(bootstrap, [topic])
        self.topic, self.producer = topic, kafka_io.producer(bootstrap)

    def send(self, dead: list[DeadLetter]) -> None:
        for d in dead:
            key = f"{d.topic}:{d.partition}:{d.offset}" + (f":{d.index}" if d.index is not None else "")
            self.producer.send(self.topic, key=key.encode(), value=d.to_json())

    def flush(self) -> None:
        self.producer.flush()


class Outputs:
    """A cycle's way out; ``alert`` hears every alert the step raised."""

    def __init__(
        self,
        sink: SignalSink,
        store: OnlineStore,
        alert: Callable[[str], None],
        shadow: ShadowLog | None = None,
        observers: list[Callable[[CycleResult], None]] | None = None,
    ):
        self.sink, self.store, self.alert, self.shadow = sink, store, alert, shadow
        self.latest = LatestSignals()
        self.observers = observers or []

    def emit(self, c: CycleResult) -> None:
        t = time.perf_counter()
        if c.symbols:
            self.sink.publish(c)
        c.timings_ms["publish"] = (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        if c.symbols:
            self.store.write(c.symbols, c.ts, c.rows)
            self.latest.update(c.ts, c.symbols, c.p_up, c.source)
        c.timings_ms["store"] = (time.perf_counter() - t) * 1e3
        for msg in c.alerts:
            self.alert(msg)
        if self.shadow is not None:
            self.shadow.add(c)
        for f in self.observers:
            f(c)

    def between_cycles(self) -> None:
        """After a poll's cycles: fold the latest view, write the shadow log when due."""
        self.latest.compact()
        if self.shadow is not None and self.shadow.due():
            self.shadow.flush()

    def close(self) -> None:
        if self.shadow is not None:
            self.shadow.flush()
        self.sink.flush()

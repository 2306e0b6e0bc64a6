"""The scoring step: a pure function of in-memory state and input (STYLE pattern 8).

Ticks go into the SAME aggregator the batch path uses; a watermark finalizes bars; every session minute up to it
steps the SAME feature engine; the cross-section is scored in one batch by the champion (or the momentum
fallback when the model is missing, fails, returns non-finite values or runs past its budget); the circuit
breaker neutralizes degenerate cycles; a feature gone missing across the cross-section alerts
(``serving.feature_health``); feature rows and signals are written to the online store and the sink. The Kafka
loop around it (``serving.kafka_loop``) owns offsets, dead letters and checkpoints.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.batch import minute_grid
from features.engine import FeatureEngine
from features.online import OnlineFeatures
from marketdata.aggregate import BarAggregator
from marketdata.schemas import BARS_1M, SIGNALS, TS
from monitoring.drift import unquoted
from serving.feature_health import FeatureHealth
from serving.model_runtime import ModelRuntime
from serving.online_store import OnlineStore
from serving.safety import CircuitBreaker, momentum_fallback
from serving.sinks import SignalSink

log = logging.getLogger(__name__)
QUOTE = "two-sided quote"  # watched beside the features: a feed lost leaves the spread features stale, not missing
STAGES = ("finalize", "features", "inference", "store", "publish")


@dataclass
class CycleResult:
    ts: int
    symbols: list[str]
    p_up: np.ndarray
    source: str
    model_version: str
    timings_ms: dict[str, float] = field(default_factory=dict)


def _calendar(ts: int) -> np.ndarray:
    from marketdata.calendar import bar_stamps, is_session, session_of

    day = session_of(np.array([ts]))[0].astype(object)
    return bar_stamps(day) if is_session(day) else np.empty(0, np.int64)


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
        """Fold pending cycles into the view; the loops call it between cycles (via :meth:`Scorer.idle`), so the
        backstop fold in :meth:`update` (65 cycles x 5,000 symbols: a 70-80 ms stall) never lands in a cycle."""
        with self._lock:
            self._fold()

    def _fold(self) -> None:
        for ts, syms, p, source in self._pending:
            self._view.update(zip(syms, ((ts, v, source) for v in p.tolist()), strict=True))
        self._pending = []

    def snapshot(self) -> dict[str, tuple[int, float, str]]:
        with self._lock:
            self._fold()
            return dict(self._view)

    def items(self):  # type: ignore[no-untyped-def]
        return self.snapshot().items()

    def get(self, symbol: str) -> tuple[int, float, str] | None:
        """One symbol's newest signal, without copying the whole view."""
        with self._lock:
            self._fold()
            return self._view.get(symbol)


def _missing(bars: pa.Table, rows: np.ndarray) -> np.ndarray:
    """The cycle's share of bars without a usable two-sided quote (missing, one-sided or crossed: what the spread
    features skip), then of names missing each feature."""
    unq, n = unquoted(bars)
    return np.r_[unq / max(n, 1), np.isnan(rows).mean(axis=0)]


class ModelRefused(ValueError):
    """A model whose feature set differs from the engine's."""


class Scorer:
    def __init__(
        self,
        engine: FeatureEngine,
        store: OnlineStore,
        sink: SignalSink,
        model: ModelRuntime | None = None,
        breaker: CircuitBreaker | None = None,
        alert: Callable[[str], None] | None = None,
        model_budget_ms: float = 30.0,
    ):
        self.engine = engine
        self.store, self.sink = store, sink
        self.breaker = breaker or CircuitBreaker()
        self.alert = alert or (lambda msg: log.warning("ALERT %s", msg))
        self.model_budget_ms = model_budget_ms
        self.agg = BarAggregator()
        self.online = OnlineFeatures(engine)
        self.last_minute = 0
        self.model: ModelRuntime | None = None
        self._pending: ModelRuntime | None = None
        self.counters = {"cycles": 0, "fallback_cycles": 0, "breaker_cycles": 0, "rejected_ticks": 0}
        self.latest = LatestSignals()
        # which symbols of a cycle this process serves (store, sink, /signals); None = all (scale-out: its own)
        self.serves: Callable[[list[str]], np.ndarray] | None = None
        if model is not None:
            self.set_model(model)
        self.health = FeatureHealth([QUOTE, *engine.names])  # a column gone missing across the cross-section alerts
        self._roc5 = engine.names.index("roc_5")
        self._rv = engine.names.index("rv_ewm_30")

    # ---- model ---------------------------------------------------------------------------------------------
    def check_model(self, model: ModelRuntime) -> None:
        if model.feature_set_version != self.engine.version or model.feature_names != self.engine.names:
            raise ModelRefused(
                f"model {model.version} was trained on feature set {model.feature_set_version}; "
                f"this engine computes {self.engine.version}: refusing it"
            )
        if model.codes is None:
            log.warning(
                "model %s keeps no categorical codes (registered before models kept them): this engine's "
                "symbol_id/sector_id reach it as they are, right only if it was trained on this pipeline's history",
                model.version,
            )

    def set_model(self, model: ModelRuntime) -> None:
        self.check_model(model)
        self.model = model

    def offer_model(self, model: ModelRuntime) -> None:
        """Hot reload: a model loaded (and compiled) off the hot path is swapped in between cycles."""
        self.check_model(model)
        self._pending = model

    # ---- input ---------------------------------------------------------------------------------------------
    def add_ticks(
        self, trades: pa.Table | None = None, quotes: pa.Table | None = None, halts: pa.Table | None = None
    ) -> pa.Table:
        """Buffer ticks; returns what the aggregator refused (duplicates, late, bad values) with reasons."""
        if halts is not None and halts.num_rows:
            self.agg.add_halts(halts)
        if trades is not None and trades.num_rows:
            self.agg.add_trades(trades)
        if quotes is not None and quotes.num_rows:
            self.agg.add_quotes(quotes)
        rej = self.agg.drain_rejects()
        self.counters["rejected_ticks"] += rej.num_rows
        return rej

    def advance(self, watermark: int, bars: pa.Table | None = None) -> list[CycleResult]:
        """Finalize bars up to ``watermark`` (or take finalized ``bars`` directly) and run a cycle for every
        session minute in (last minute, watermark]."""
        t0 = time.perf_counter()
        if bars is None:
            bars = self.agg.finalize(watermark)
        fin_ms = (time.perf_counter() - t0) * 1e3
        ts = bars.column("ts").cast(pa.int64()).to_numpy()
        # the session minutes of the watermark's day (even ones no bar has reached yet), plus the bars' stamps;
        # the watermark is never a stamp itself: the batch fold steps exactly these minutes too
        grid = minute_grid(np.r_[ts, watermark])
        if watermark not in ts and watermark not in _calendar(watermark):
            grid = grid[grid != watermark]
        grid = grid[(grid > self.last_minute) & (grid <= watermark)]
        out = []
        for t in grid:
            minute_bars = (
                bars.filter(pc.equal(bars.column("ts").cast(pa.int64()), int(t))) if len(ts) else BARS_1M.empty_table()
            )
            r = self.cycle(int(t), minute_bars.sort_by("symbol"))
            r.timings_ms["finalize"] = fin_ms / max(len(grid), 1)
            out.append(r)
        return out

    # ---- one cycle -----------------------------------------------------------------------------------------
    def cycle(self, ts: int, bars: pa.Table) -> CycleResult:
        if self._pending is not None:
            self.model, self._pending = self._pending, None
        timings = {}
        t = time.perf_counter()
        syms, rows = self.online.on_minute(ts, bars)
        self.last_minute = ts
        for msg in self.health.judge(_missing(bars, rows), len(rows)) if len(rows) else ():
            self.alert(f"{msg} at {ts}")
        timings["features"] = (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        p, source = self._score(rows)
        timings["inference"] = (time.perf_counter() - t) * 1e3
        tripped, event = self.breaker.update(p) if source == "model" else (self.breaker.tripped, None)
        if event:
            self.alert(f"circuit breaker {event} at {ts}: mean p_up {np.mean(p):.3f}, std {np.std(p):.2g}")
        if tripped and source == "model":
            p, source = np.full(len(p), 0.5), "breaker"
        self.counters["cycles"] += 1
        self.counters["fallback_cycles"] += source == "fallback"
        self.counters["breaker_cycles"] += source == "breaker"
        version = self.model.version if self.model is not None and source != "fallback" else "none"
        out_syms, out_rows, out_p = syms, rows, p
        if self.serves is not None and syms:
            mine = self.serves(syms)
            out_syms, out_rows, out_p = [s for s, m in zip(syms, mine, strict=True) if m], rows[mine], p[mine]
        t = time.perf_counter()
        if out_syms:
            self.store.write(out_syms, ts, out_rows.astype(np.float32))
        timings["store"] = (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        if out_syms:
            self.sink.publish(ts, self._signals(ts, out_syms, out_p, version, source))
            self.latest.update(ts, out_syms, out_p, source)
        timings["publish"] = (time.perf_counter() - t) * 1e3
        return CycleResult(ts, syms, p, source, version, timings)

    def _score(self, rows: np.ndarray) -> tuple[np.ndarray, str]:
        if len(rows) == 0:
            return np.empty(0), "model"
        fallback = momentum_fallback(rows[:, self._roc5], rows[:, self._rv])
        if self.model is None:
            return fallback, "fallback"
        differ = self.model.bind_codes({"symbol_id": self.online.state.symbols, "sector_id": self.engine.sectors})
        if differ:  # handled (translated), but it says the model was trained on another pipeline's history
            log.warning(
                "model %s keeps %d symbols under other codes than this engine (%s%s): translated to the model's",
                self.model.version,
                len(differ),
                ", ".join(differ[:5]),
                ", ..." if len(differ) > 5 else "",
            )
        t = time.perf_counter()
        try:
            p = self.model.predict(rows)
        except (ValueError, RuntimeError, TypeError, MemoryError) as e:  # the documented safety policy
            self.alert(f"model {self.model.version} failed ({e.__class__.__name__}: {e}); serving the fallback")
            return fallback, "fallback"
        took = (time.perf_counter() - t) * 1e3
        if took > self.model_budget_ms:
            self.alert(f"model {self.model.version} took {took:.1f} ms > {self.model_budget_ms} ms; fallback served")
            return fallback, "fallback"
        if not np.all(np.isfinite(p)):
            self.alert(f"model {self.model.version} returned non-finite values; fallback served")
            return fallback, "fallback"
        return p, "model"

    def idle(self) -> None:
        """Housekeeping for the time between cycles, and the next minute's features' groundwork (the FFD
        partial sums of bars already seen: ~5 ms of 5,000 symbols' windows taken off the next cycle)."""
        self.latest.compact()
        self.online.prepare()

    @staticmethod
    def _signals(ts: int, syms: list[str], p: np.ndarray, version: str, source: str) -> pa.Table:
        n = len(syms)
        return pa.table(
            {
                "symbol": pa.array(syms, pa.string()),
                "ts": pa.array(np.full(n, ts, np.int64)).cast(TS),
                "p_up": pa.array(p.astype(np.float32)),
                "model_version": pa.repeat(pa.scalar(version, pa.string()), n),
                "source": pa.repeat(pa.scalar(source, pa.string()), n),
            },
            schema=SIGNALS,
        )

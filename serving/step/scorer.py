"""The scoring step: a pure function of in-memory state and input (STYLE pattern 8). No I/O.

The bars of a minute step the feature engine; the cross-section is scored in one batch by the champion (or the
momentum fallback when the model is missing, fails, returns non-finite values or runs past its budget); the circuit
breaker neutralizes degenerate cycles; a feature gone missing across the cross-section raises an alert. Each minute
gives a :class:`CycleResult` — feature rows, ``p_up``, the source, the alerts raised, the stages' timings — and the
loop around the step (:mod:`serving.app.loop`) sends it on: signals, online store, shadow log, checkpoints.
"""

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.batch import minute_grid
from features.engine import FeatureEngine
from features.online import OnlineFeatures
from features.state_io import from_arrays, to_arrays
from marketdata.schemas import BARS_1M, SIGNALS, TS
from monitoring.drift import unquoted
from serving.inference.model_runtime import ModelRuntime
from serving.step.feature_health import FeatureHealth
from serving.step.safety import CircuitBreaker, MomentumFallback

log = logging.getLogger(__name__)
QUOTE = "two-sided quote"  # watched beside the features: a feed lost leaves the spread features stale, not missing
STAGES = ("finalize", "features", "inference", "publish", "store")


@dataclass
class CycleResult:
    """One minute served: the symbols, their float32 feature rows and ``p_up``, where ``p_up`` came from."""

    ts: int
    symbols: list[str]
    p_up: np.ndarray
    source: str
    model_version: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    rows: np.ndarray = field(default_factory=lambda: np.empty((0, 0), np.float32))
    alerts: list[str] = field(default_factory=list)
    runtime: str = ""  # what computed p_up: the model runtime's name, or the fallback

    def signals(self) -> pa.Table:
        """The minute's signals (contract ``signals`` schema)."""
        n = len(self.symbols)
        return pa.table(
            {
                "symbol": pa.array(self.symbols, pa.string()),
                "ts": pa.array(np.full(n, self.ts, np.int64)).cast(TS),
                "p_up": pa.array(self.p_up.astype(np.float32)),
                "model_version": pa.repeat(pa.scalar(self.model_version, pa.string()), n),
                "source": pa.repeat(pa.scalar(self.source, pa.string()), n),
            },
            schema=SIGNALS,
        )


def _calendar(ts: int) -> np.ndarray:
    from marketdata.calendar import bar_stamps, is_session, session_of

    day = session_of(np.array([ts]))[0].astype(object)
    return bar_stamps(day) if is_session(day) else np.empty(0, np.int64)


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
        model: ModelRuntime | None = None,
        breaker: CircuitBreaker | None = None,
        model_budget_ms: float = 30.0,
    ):
        self.engine = engine
        self.breaker = breaker or CircuitBreaker()
        self.model_budget_ms = model_budget_ms
        self.online = OnlineFeatures(engine)
        self.fallback = MomentumFallback(engine.names, engine.fallback_inputs)
        self.last_minute = 0
        self.generation = 0  # counts cycles begun: a checkpoint copy taken across one is void (serving.io.checkpoint)
        self.cycled = threading.Event()  # set after each cycle: a hot reload builds its model right after one
        self.model: ModelRuntime | None = None
        self._pending: ModelRuntime | None = None
        self.counters = {"cycles": 0, "fallback_cycles": 0, "breaker_cycles": 0}
        self.live_actions: list[list] = []  # learned while running: saved with the state (checkpoints)
        self.live_vix: list[np.ndarray] = []
        if model is not None:
            self.set_model(model)
        self.health = FeatureHealth([QUOTE, *engine.names])  # a column gone missing across the cross-section alerts

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

    # ---- inputs beyond bars ------------------------------------------------------------------------------------
    def update(self, kind: str, rows: pa.Table) -> list[tuple[int, str]]:
        """Apply live ``actions`` (corporate actions announced) or ``vix`` values between cycles, exactly as the
        batch path would have them; returns the rows refused, with why (the loop dead-letters them)."""
        refused: list[tuple[int, str]] = []
        if kind == "actions":
            done = dt.datetime.fromtimestamp(self.last_minute / 1e9, dt.UTC).date() if self.last_minute else None
            for i, a in enumerate(rows.to_pylist()):
                if done is not None and a["ex_date"] <= done:
                    refused.append((i, f"ex-date {a['ex_date']} has begun: an action applies before its first bar"))
                elif not (a["split_ratio"] > 0 and a["cash_dividend"] >= 0):
                    refused.append((i, "split_ratio must be > 0 and cash_dividend >= 0"))
                elif self.engine.announce(a["symbol"], a["ex_date"], a["split_ratio"], a["cash_dividend"]):
                    self.live_actions.append(
                        [a["symbol"], a["ex_date"].isoformat(), a["split_ratio"], a["cash_dividend"]]
                    )
            return refused
        if not self.engine.uses_vix:
            return [(i, "this feature set takes mkt_vol from SPY, not a VIX series (start with a vix dataset in the "
                        "lake to use one)") for i in range(rows.num_rows)]  # fmt: skip
        ts, value = rows.column("ts").to_numpy(), rows.column("value").to_numpy()
        last = self.engine.vix.ts[-1] if len(self.engine.vix.ts) else -1
        keep = []
        for i in np.argsort(ts, kind="stable"):
            if ts[i] <= max(last, self.last_minute):
                refused.append((int(i), "VIX value at or before the last value or the last minute scored"))
            elif not value[i] > 0:
                refused.append((int(i), "VIX value must be positive"))
            else:
                keep.append(int(i))
                last = ts[i]
        if keep:
            self.engine.add_vix(
                pa.table({"ts": pa.array(ts[keep]).cast(pa.timestamp("ns", "UTC")), "value": value[keep]})
            )
            self.live_vix.append(np.c_[ts[keep], value[keep].view(np.int64)])
        return refused

    # ---- the step --------------------------------------------------------------------------------------------
    def advance(self, watermark: int, bars: pa.Table, finalize_ms: float = 0.0) -> list[CycleResult]:
        """A cycle for every session minute in (last minute, ``watermark``], given the bars finalized up to it."""
        ts = bars.column("ts").cast(pa.int64()).to_numpy()
        # the session minutes of the watermark's day (even ones no bar has reached yet), plus the bars' stamps;
        # the watermark is never a stamp itself: the batch fold steps exactly these minutes too
        grid = minute_grid(np.r_[ts, watermark])
        if watermark not in ts and watermark not in _calendar(watermark):
            grid = grid[grid != watermark]
        grid = grid[(grid > self.last_minute) & (grid <= watermark)]
        out = []
        for t in grid:
            if len(ts):
                minute_bars = bars.filter(pc.equal(bars.column("ts").cast(pa.int64()), int(t)))
            else:
                minute_bars = BARS_1M.empty_table()
            r = self.cycle(int(t), minute_bars.sort_by("symbol"))
            r.timings_ms["finalize"] = finalize_ms / max(len(grid), 1)
            out.append(r)
        return out

    def cycle(self, ts: int, bars: pa.Table) -> CycleResult:
        self.generation += 1
        if self._pending is not None:
            self.model, self._pending = self._pending, None
        timings, alerts = {}, []
        t = time.perf_counter()
        syms, rows = self.online.on_minute(ts, bars)
        self.last_minute = ts
        for msg in self.health.judge(_missing(bars, rows), len(rows)) if len(rows) else ():
            alerts.append(f"{msg} at {ts}")
        timings["features"] = (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        p, source = self._score(rows, alerts)
        timings["inference"] = (time.perf_counter() - t) * 1e3
        tripped, event = self.breaker.update(p) if source == "model" else (self.breaker.tripped, None)
        if event:
            alerts.append(f"circuit breaker {event} at {ts}: mean p_up {np.mean(p):.3f}, std {np.std(p):.2g}")
        if tripped and source == "model":
            p, source = np.full(len(p), 0.5), "breaker"
        self.counters["cycles"] += 1
        self.counters["fallback_cycles"] += source == "fallback"
        self.counters["breaker_cycles"] += source == "breaker"
        version = self.model.version if self.model is not None and source != "fallback" else "none"
        runtime = self.model.runtime if self.model is not None and source == "model" else source
        self.cycled.set()
        return CycleResult(ts, syms, p, source, version, timings, rows.astype(np.float32), alerts, runtime)

    def _score(self, rows: np.ndarray, alerts: list[str]) -> tuple[np.ndarray, str]:
        if len(rows) == 0:
            return np.empty(0), "model"
        fallback = self.fallback(rows)
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
            alerts.append(f"model {self.model.version} failed ({e.__class__.__name__}: {e}); serving the fallback")
            return fallback, "fallback"
        took = (time.perf_counter() - t) * 1e3
        if took > self.model_budget_ms:
            alerts.append(f"model {self.model.version} took {took:.1f} ms > {self.model_budget_ms} ms; fallback served")
            return fallback, "fallback"
        if not np.all(np.isfinite(p)):
            alerts.append(f"model {self.model.version} returned non-finite values; fallback served")
            return fallback, "fallback"
        return p, "model"

    def idle(self) -> None:
        """Between cycles: the next minute's features' groundwork (the FFD partial sums of bars already seen: ~5 ms
        of 5,000 symbols' windows taken off the next cycle)."""
        self.online.prepare()

    # ---- state -----------------------------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        """The engine's arrays (live: valid until the next cycle) and the step's metadata, for a checkpoint: with
        what it learned while running (actions announced, VIX values)."""
        arrays, meta = to_arrays(self.online.state)
        if self.live_vix:
            arrays = dict(arrays, live_vix=np.concatenate(self.live_vix))
        step = {"engine": meta, "last_minute": self.last_minute, "breaker": self.breaker.state()}
        return arrays, dict(step, live_actions=list(self.live_actions))

    def restore(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        vix = arrays.pop("live_vix", None) if "live_vix" in arrays else None
        self.online.state = from_arrays(arrays, meta["engine"])
        self.last_minute = int(meta["last_minute"])
        self.breaker.restore(meta["breaker"])
        for sym, day, ratio, div in meta.get("live_actions", []):
            if self.engine.announce(sym, dt.date.fromisoformat(day), ratio, div):
                self.live_actions.append([sym, day, ratio, div])
        if vix is not None and len(vix):
            ts, value = vix[:, 0], vix[:, 1].copy().view(np.float64)
            new = ts > (self.engine.vix.ts[-1] if len(self.engine.vix.ts) else -1)
            if new.any():
                self.engine.add_vix(
                    pa.table({"ts": pa.array(ts[new]).cast(pa.timestamp("ns", "UTC")), "value": value[new]})
                )
            self.live_vix = [vix]

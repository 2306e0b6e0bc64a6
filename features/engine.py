"""The feature engine: one ``step`` over the whole cross-section per minute; the batch path folds it.

Identical handling in both paths, by construction (there is one implementation):

* no bar this minute -> kernel state is carried, the row is not emitted, ``stale_minutes`` grows;
* a halted bar -> features frozen at their last values, ``halted = 1``;
* the first bar of a session -> 1-bar changes are measured from the bar's open (the overnight gap never enters);
* an ex-date -> before the first bar of the day every kernel rescales its price-level state by
  ``(1 / split_ratio) * (1 - dividend / last_close)`` and share counts by the split ratio;
* a new symbol -> registered, state arrays grow; a symbol that leaves just stops emitting.
"""

import datetime as dt
import hashlib
import json
import os
import weakref
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from features import fused
from features.context import CONTEXT_BOUNDS, CONTEXT_FEATURES
from features.fused.driver import DAY_NS, EPOCH_ORDINAL
from features.fused.step import StepScratch, compiled_step, prepare_next
from features.growth import append_symbols
from features.kernels import FALLBACK_INPUTS, FFD_D, default_kernels
from features.reference_step import reference_step
from features.spec import FeatureSpec, Kernel
from features.state import EngineState, StateMismatch, Symbols
from features.vix import VixSeries
from marketdata.calendar import session_bounds_ns

ENGINE_VERSION = 2  # 2: state arrays are symbol-last, look-back rings a power of two wide


class FeatureEngine:
    """Specs, reference data and corporate actions; :meth:`step` advances an :class:`EngineState` one minute."""

    def __init__(
        self,
        reference: pa.Table | None = None,
        corporate_actions: pa.Table | None = None,
        kernels: list[Kernel] | None = None,
        vix: pa.Table | None = None,
        compiled: bool = True,
        step_threads: int | None = None,
        ffd_d: float | None = None,
        fallback_inputs: dict[str, str] | None = None,
    ):
        """``step_threads``: threads the compiled online step uses (1 or 2; default 2 where the machine has two
        cores): a helper thread takes chunks of the minute's symbols (:mod:`features.fused.split`), with the same
        bits as one. The batch fold always runs on one core. ``ffd_d``: FFD's differencing order in the default
        kernels (:data:`FFD_D` if not given; not with ``kernels``). ``fallback_inputs``: serving's fallback
        columns by role (:data:`FALLBACK_INPUTS` for the default kernels)."""
        if kernels is not None and ffd_d is not None:
            raise ValueError("give either kernels or ffd_d (which sets FFD's d in the default kernels), not both")
        if step_threads is None:
            step_threads = 2 if (os.cpu_count() or 1) > 1 else 1
        if step_threads not in (1, 2):
            raise ValueError(f"step_threads must be 1 or 2, got {step_threads!r}")
        self.step_threads = step_threads
        self.kernels = kernels if kernels is not None else default_kernels(FFD_D if ffd_d is None else ffd_d)
        self.specs: list[FeatureSpec] = [s for k in self.kernels for s in k.outputs()]
        self.kernel_cols = []
        col = 0
        for k in self.kernels:
            m = len(k.outputs())
            self.kernel_cols.append((col, col + m, [s.name for s in k.outputs()]))
            col += m
        self.n_kernel_features = col
        kernel_names = [s.name for s in self.specs]
        self.mkt_vol_col = kernel_names.index("mkt_vol") if "mkt_vol" in kernel_names else -1
        self.names = [s.name for s in self.specs] + list(CONTEXT_FEATURES)
        self.warmup = np.array([s.warmup for s in self.specs])
        self.fallback_inputs = dict(FALLBACK_INPUTS if fallback_inputs is None else fallback_inputs)
        self.bounds = {s.name: (s.lo, s.hi) for s in self.specs} | dict(CONTEXT_BOUNDS)
        self._reference(reference)
        self._actions(corporate_actions)
        self.vix = VixSeries()
        self.uses_vix = vix is not None
        if vix is not None:
            self.add_vix(vix)
        # the compiled step (features.fused) for the default kernel list; the numpy kernels otherwise
        use = compiled and fused.supports(self.kernels)
        self.fused = fused.params(self.kernels, self.warmup, self.kernel_cols) if use else None
        self.scratch = StepScratch()  # the compiled step's working memory, reused minute to minute
        self._index_cache_owner: int | None = None
        self._cache_of: Callable[[], EngineState | None] = lambda: None  # the state extra_arrays was built for
        self._lead_names: dict[str, int] = {}  # a code per distinct leader name (extra_arrays)
        self._day: tuple[int, dt.date, int, int] = (-(1 << 62), dt.date.min, 0, 0)  # begin_minute's last UTC day

    # ---- configuration -------------------------------------------------------------------------------------
    def _reference(self, ref: pa.Table | None) -> None:
        self.leader_of: dict[str, str] = {}
        self.sector_of: dict[str, str] = {}
        if ref is not None and ref.num_rows:
            cols = [ref.column(c).to_pylist() for c in ("symbol", "leader", "sector")]
            for s, lead, sec in zip(*cols, strict=True):
                self.leader_of[s], self.sector_of[s] = lead, sec
        self.sectors = sorted(set(self.sector_of.values()))

    def _actions(self, ca: pa.Table | None) -> None:
        self.actions: dict[int, list[tuple[str, float, float]]] = {}
        if ca is not None:
            cols = [ca.column(c).to_pylist() for c in ("symbol", "ex_date", "split_ratio", "cash_dividend")]
            for row in zip(*cols, strict=True):
                self.announce(*row)

    def announce(self, symbol: str, ex_date: dt.date, split_ratio: float, cash_dividend: float) -> bool:
        """A corporate action (read at start or learned live), applied before its ex-date's first bar; False if known."""
        entry = (symbol, float(split_ratio), float(cash_dividend))
        known = self.actions.setdefault(ex_date.toordinal(), [])
        if entry in known:
            return False
        known.append(entry)
        return True

    def add_vix(self, vix: pa.Table) -> None:
        """Append a user-supplied VIX series (see :mod:`features.vix`); ``mkt_vol`` follows it from now on."""
        self.vix.add(vix)
        self.uses_vix = True

    def vix_at(self, ts: int) -> float:
        return self.vix.at(ts)

    @property
    def version(self) -> str:
        """Hash of the specs and their parameters: prefixes Redis keys, recorded with every model."""
        desc = {"engine": ENGINE_VERSION, "names": self.names, "kernels": [[k.name, k.params()] for k in self.kernels]}
        if self.uses_vix:
            desc["mkt_vol_source"] = "vix"
        return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:12]

    def metadata(self, state: EngineState) -> dict[str, str]:
        return {
            "tickwise.feature_set_version": self.version,
            "tickwise.features": json.dumps(self.names),
            "tickwise.symbol_codes": json.dumps(state.symbols),
            "tickwise.sector_codes": json.dumps(self.sectors),
        }

    # ---- state -----------------------------------------------------------------------------------------------
    def adopt(self, st: EngineState) -> EngineState:
        """``st`` if this engine may continue it: a state computed by another feature set (other specs or
        parameters, a tickwise upgrade that changed a definition) would mix two definitions in one series, so it is
        refused (:class:`StateMismatch`). A state saved before states recorded their feature set is taken as this
        engine's."""
        if st.feature_set and st.feature_set != self.version:
            raise StateMismatch(
                f"engine state was computed by feature set {st.feature_set}; this engine's is {self.version}: "
                "recompute the state with this feature set (materialize features_1m from its first partition, or "
                "run `tickwise features` over the history)"
            )
        st.feature_set = self.version
        return st

    def new_state(self) -> EngineState:
        st = EngineState(feature_set=self.version)
        st.kernels = [k.init(0) for k in self.kernels]
        st.last_out = np.zeros((self.n_kernel_features, 0), order="F")  # column-major: a symbol's outputs together
        return st

    def _register(self, st: EngineState, names: list[str]) -> None:
        idx = st.index()
        new = [s for s in dict.fromkeys(names) if s not in idx]
        if not new:
            return
        m = len(new)
        for s in new:
            idx[s] = len(st.symbols)
            st.symbols.append(s)
        for k, ks in zip(self.kernels, st.kernels, strict=True):
            fresh = k.init(m)
            # the kernel's column-major arrays stay column-major (decided on a 2-symbol probe: with one symbol an
            # array is both C and F contiguous)
            fortran = {key for key, a in k.init(2).items() if a.ndim > 1 and not a.flags.c_contiguous}
            for key, arr in fresh.items():
                if not key.startswith("_"):  # the symbol axis is the last one; grown in place (features.growth)
                    ks[key] = append_symbols(ks.get(key), arr, key in fortran)
                elif key not in ks:
                    ks[key] = arr
        st.last_close = append_symbols(st.last_close, np.full(m, np.nan), False)
        st.last_session = append_symbols(st.last_session, np.full(m, -1, np.int64), False)
        st.last_upd_ts = append_symbols(st.last_upd_ts, np.zeros(m, np.int64), False)
        st.nupd = append_symbols(st.nupd, np.zeros(m, np.int64), False)
        st.last_out = append_symbols(st.last_out, np.full((self.n_kernel_features, m), np.nan, order="F"), True)

    def _start_session(self, st: EngineState, day: int) -> None:
        """Apply the day's corporate actions to every registered symbol's state, before its first bar."""
        st.session = day
        acts = self.actions.get(day, [])
        if not acts:
            return
        idx = st.index()
        rows, pf, sr = [], [], []
        for s, ratio, div in acts:
            i = idx.get(s)
            if i is None or np.isnan(st.last_close[i]):
                continue
            rows.append(i)
            pf.append((1.0 / ratio) * (1.0 - div / st.last_close[i]))
            sr.append(ratio)
        if not rows:
            return
        r, f, q = np.array(rows), np.array(pf), np.array(sr)
        for k, ks in zip(self.kernels, st.kernels, strict=True):
            k.rescale(ks, r, f, q)
        st.last_close[r] *= f

    # ---- the step ---------------------------------------------------------------------------------------------
    def step(
        self, st: EngineState, ts: int, symbols: Symbols, cols: dict[str, np.ndarray], halted: np.ndarray
    ) -> tuple[EngineState, np.ndarray]:
        """Advance one minute. ``symbols`` and ``cols`` are the bars stamped ``ts`` (any order, one per symbol);
        ``symbols`` a list of strings or the bars' Arrow string column (looked up without making Python strings).

        Returns the state (updated in place) and the feature rows ``(len(symbols), n_features)`` in input order.
        """
        day, minute, rows = self.begin_minute(st, ts, symbols)
        if self.fused is None:
            return st, reference_step(self, st, ts, day, minute, rows, cols, np.asarray(halted, bool))
        out = compiled_step(self, st, ts, day, minute, rows, cols, np.asarray(halted, bool))
        st.last_ts = ts
        return st, out

    def prepare(self, st: EngineState) -> None:
        """Between minutes (a scorer's idle time): precompute what the next step needs of bars already seen; the
        step's output is the same bits with or without it (:func:`features.fused.step.prepare_next`)."""
        prepare_next(self, st)

    def begin_day(self, st: EngineState, ts: int, new_symbols: list[str]) -> None:
        """The batch fold's day start: the session's corporate actions, then the day's newcomers registered
        up front (in the order the online step would meet them)."""
        if ts <= st.last_ts:
            raise ValueError(f"minute {ts} is not after the last one stepped ({st.last_ts})")
        day = dt.datetime.fromtimestamp(ts / 1e9, dt.UTC).date().toordinal()
        if day != st.session:
            self._start_session(st, day)
        self._register(st, new_symbols)

    def vix_series(self, grid: np.ndarray) -> np.ndarray:
        """``mkt_vol``'s VIX value at each minute of ``grid`` (NaN when no VIX series is used)."""
        return np.array([self.vix_at(int(t)) for t in grid]) if self.uses_vix else np.full(len(grid), np.nan)

    def begin_minute(self, st: EngineState, ts: int, symbols: Symbols) -> tuple[dt.date, int, np.ndarray]:
        """Checks, the session's corporate actions, registration; the UTC date, minutes since the open, and the
        registry row of each symbol."""
        if ts <= st.last_ts:
            raise ValueError(f"minute {ts} is not after the last one stepped ({st.last_ts})")
        if ts // DAY_NS != self._day[0]:  # a new UTC day: its date and session open, kept for its other minutes
            day = dt.date.fromordinal(EPOCH_ORDINAL + int(ts // DAY_NS))
            self._day = (ts // DAY_NS, day, day.toordinal(), session_bounds_ns(day)[0])
        _, day, ordinal, open_ns = self._day
        if ordinal != st.session:
            self._start_session(st, ordinal)
        return day, int((ts - open_ns) // 60_000_000_000), self._rows(st, symbols)

    def day_open(self) -> tuple[dt.date | None, int]:
        """The UTC date of the last minute stepped and its session's open (ns); ``(None, 0)`` before any."""
        return (self._day[1], self._day[3]) if self._day[0] > -(1 << 62) else (None, 0)

    def _rows(self, st: EngineState, symbols: Symbols) -> np.ndarray:
        """Registry rows of ``symbols``, registering new ones first (in the order they come)."""
        rows = st.rows(symbols)
        if rows is None:
            self._register(
                st, symbols.to_pylist() if isinstance(symbols, pa.Array | pa.ChunkedArray) else list(symbols)
            )
            rows = st.rows(symbols)
            assert rows is not None
        return rows

    @staticmethod
    def engine_arrays(st: EngineState) -> tuple:
        return (st.last_close, st.last_session, st.last_upd_ts, st.nupd, st.last_out)

    def extra_arrays(self, st: EngineState) -> dict:
        """Leader and sector indices aligned with the registry, and each leader's slot among the leaders (-1 for
        a symbol nobody follows); cached until the registry grows."""
        if self._index_cache_owner != len(st.symbols) or self._cache_of() is not st:
            if self._cache_of() is not st:  # per registry row: its leader's name code, its sector
                self._codes: tuple[list[int], list[int]] = ([], [])
            names, sec_code = self._lead_names, {s: i for i, s in enumerate(self.sectors)}
            for s in st.symbols[len(self._codes[0]) :]:  # only the newcomers: the registry only grows
                self._codes[0].append(names.setdefault(self.leader_of.get(s, "SPY"), len(names)))
                self._codes[1].append(sec_code.get(self.sector_of.get(s, ""), -1))
            idx = st.index()
            spy = idx.get("SPY", -1)
            leader = np.array([idx.get(name, spy) for name in names], np.int64)[np.array(self._codes[0], np.int64)]
            sector = np.array(self._codes[1], np.int64)
            leaders = np.unique(np.r_[leader, spy])
            leaders = leaders[leaders >= 0]
            lslot = np.full(len(st.symbols), -1, np.int64)
            lslot[leaders] = np.arange(len(leaders))
            self._extra_cache = {"leader": leader, "spy": spy, "sector_id": sector, "lslot": lslot, "leaders": leaders}
            self._index_cache_owner = len(st.symbols)
            self._cache_of = weakref.ref(st)  # not id(st): a new state may reuse a freed one's id
        return dict(self._extra_cache)

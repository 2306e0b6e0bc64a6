"""The online step's Python side: the compiled minute's arguments, its scratch, and what is prepared between
minutes. (:mod:`features.fused.driver` is the batch fold's.)

:func:`compiled_step` is :meth:`features.engine.FeatureEngine.step` on the compiled engine: it hands the minute's
bars, with the arguments that stay from minute to minute (:func:`fixed_args`), to
:func:`features.fused.core.minute` on one or two threads (:mod:`features.fused.split`).
"""

import datetime as dt
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from features import fused
from features.fused import split
from features.fused.clock import OFFLINE_STAGES, ONLINE_STAGES
from features.fused.core import minute, workspace
from features.fused.ffd import ffd_prepare
from features.fused.warm import touch, touch_slots
from features.reference_step import INPUTS

if TYPE_CHECKING:
    from features.engine import EngineState, FeatureEngine

FFD_SLOT = fused.FUSED_KERNELS.index(fused.FFD)  # the FFD kernel's place in the engine's kernel list
VTOD_SLOT = fused.FUSED_KERNELS.index(fused.VolumeTimeOfDay)
MINUTE_NS = 60_000_000_000


class StepScratch:
    """The compiled step's scratch (:func:`features.fused.core.workspace`), kept between minutes and rebuilt when
    the registry grows, and its control block for the second thread (:mod:`features.fused.split`)."""

    def __init__(self) -> None:
        self.key: tuple[int, int] | None = None
        self.ws: tuple = ()  # its last array: the last minute's ticks per thread and stage (features.fused.clock)
        self.ctrl = split.new_ctrl()
        self.helper_only = False  # tests: the helper thread does every chunk, the caller none
        self.chunk = split.CHUNK  # the smallest claim
        self.fold_clock = np.zeros(len(OFFLINE_STAGES), np.int64)  # the last batch fold's ticks per stage
        self.fixed: tuple = ()  # the step's arguments that stay from minute to minute (fixed_args), for the state
        self.fixed_n = -1  # ... self.fixed_of() with this many symbols
        self.fixed_of: Callable[[], object] = lambda: None
        self.warm_views: tuple[tuple, tuple] = ((), ())  # the state's arrays, flat (features.fused.step.warm)

    def invalidate(self) -> None:
        """The state's arrays may have been replaced without the registry growing (FFD's prepared sums resized):
        rebuild the step's fixed arguments. (Registration needs no call: the registry's size is part of the key.)"""
        self.fixed_n = -1

    def get(self, n: int, n_lead: int, nw: int) -> tuple:
        if self.key != (n, n_lead):
            self.ws, self.key = workspace(n, n_lead, nw), (n, n_lead)
        return self.ws

    def step_ticks(self) -> np.ndarray:
        """The last online step's cycle-counter ticks per stage (:data:`features.fused.clock.ONLINE_STAGES`), both
        threads' added: CPU time, not wall time."""
        return self.ws[-1].sum(axis=0) if self.ws else np.zeros(len(ONLINE_STAGES), np.int64)

    def thread_ticks(self) -> np.ndarray:
        """The last online step's ticks per thread (the caller's, the helper's) and stage."""
        return self.ws[-1].copy() if self.ws else np.zeros((2, len(ONLINE_STAGES)), np.int64)


def prepare_next(engine: "FeatureEngine", st: "EngineState") -> None:
    """Between minutes: every symbol's FFD partial sums of the next window but its newest position
    (:func:`features.fused.ffd.ffd_prepare`), so the next step only adds the newest term; the next step's
    :func:`fixed_args`; the symbol lookup table brought up to date; then a read of the memory the next step reads
    (:func:`warm`). The step gives the same bits without any of it (it then sums the whole window itself, and
    builds its arguments); anything that moves the rings first voids the sums."""
    params = engine.fused
    if params is None or not st.symbols:
        return
    ffd, ptr, n = st.kernels[FFD_SLOT], int(st.kernels[FFD_SLOT]["_ptr"]), len(st.symbols)
    if ffd["_pre"].shape[1] != n:  # symbols joined since: room for all of them, nothing prepared
        ffd["_pre"], ffd["_pre_ptr"][...] = np.zeros((8, n), order="F"), -1
        engine.scratch.invalidate()
    if int(ffd["_pre_ptr"]) != ptr:  # else prepared already, and nothing has moved the rings since
        ffd_prepare(ffd["buf"], ptr, params.ffd_wr, ffd["_pre"])
        ffd["_pre_ptr"][...] = ptr
    fixed_args(engine, st)  # the next step's arguments that do not depend on its bars
    st.table()  # a newly restored state's: encoding 5,000 names would cost its first step ~2 ms
    warm(engine, st)


def warm(engine: "FeatureEngine", st: "EngineState") -> None:
    """Read the memory the next step reads (:mod:`features.fused.warm`): every state array but the two large
    tables, and of those the lines the next minute uses. Changes no value."""
    floats, ints = engine.scratch.warm_views
    touch(floats, ints)
    tod, buf = st.kernels[VTOD_SLOT]["tod"], st.kernels[FFD_SLOT]["buf"]
    day, open_ns = engine.day_open()
    m = (st.last_ts - open_ns) // MINUTE_NS + 1 if day else 1  # the coming minute (approximately: a hint)
    touch_slots(tod, min(max(int(m), 1), tod.shape[1] - 1), buf, int(st.kernels[FFD_SLOT]["_ptr"]))


def fixed_args(engine: "FeatureEngine", st: "EngineState") -> tuple:
    """The compiled step's arguments that stay from minute to minute (the leader and sector indices, the engine's
    and kernels' state arrays, the parameters, the scratch): built once, then kept until the registry grows,
    another state comes, or ``StepScratch.invalidate`` is called (where an array is replaced at the same size).
    Building them from the state's dictionaries cost a step ~100 µs of Python with its caches cold."""
    sc, params = engine.scratch, engine.fused
    assert params is not None, "fixed_args needs the compiled engine"
    if sc.fixed_of() is not st or sc.fixed_n != len(st.symbols):
        x = engine.extra_arrays(st)
        sc.fixed = (
            x["leader"], x["spy"], x["lslot"], x["leaders"], x["sector_id"], engine.engine_arrays(st),
            fused.state_tuples(engine.kernels, st.kernels), params,
            sc.get(len(st.symbols), len(x["leaders"]), len(params.x_windows)),
        )  # fmt: skip
        sc.fixed_n, sc.fixed_of = len(st.symbols), weakref.ref(st)
        sc.warm_views = warm_views(st, sc.fixed[5], sc.fixed[6])
    return sc.fixed


def warm_views(st: "EngineState", eng: tuple, ks: tuple) -> tuple[tuple, tuple]:
    """The state's arrays as flat views, float64 and int64 apart, for :func:`features.fused.warm.touch` — all
    but the same-minute statistics and FFD's windows (~55 MB together at 5,000 symbols, of which a step reads one
    line per symbol: :func:`features.fused.warm.touch_slots`)."""
    big = (st.kernels[VTOD_SLOT]["tod"], st.kernels[FFD_SLOT]["buf"])
    flat = [a.ravel(order="K") for a in arrays_in((eng, ks)) if not any(a is b for b in big)]
    return (
        tuple(a for a in flat if a.dtype == np.float64 and a.size),
        tuple(a for a in flat if a.dtype == np.int64 and a.size),
    )


def arrays_in(x: object) -> Iterator[np.ndarray]:
    """Every array in a nest of tuples, in order."""
    if isinstance(x, np.ndarray):
        yield x
    elif isinstance(x, tuple):
        for y in x:
            yield from arrays_in(y)


def compiled_step(
    engine: "FeatureEngine",
    st: "EngineState",
    ts: int,
    day: dt.date,
    minute_: int,
    rows: np.ndarray,
    cols: dict[str, np.ndarray],
    halted: np.ndarray,
) -> np.ndarray:
    """:meth:`FeatureEngine.step` on the compiled engine (``rows``: registry rows of the minute's bars): the
    feature rows in input order."""
    params = engine.fused
    assert params is not None, "compiled_step needs the compiled engine"
    x = tuple(_writable_f8(cols[c]) for c in INPUTS)  # the columns as they come where they can
    out = np.empty((len(rows), len(engine.names)))
    *fixed, ws = fixed_args(engine, st)
    ws[-1][:] = 0
    args = (ts, minute_, day.weekday(), st.session, engine.vix_at(ts) if engine.uses_vix else np.nan,
            engine.uses_vix, rows, x, halted, *fixed, out, ws)  # fmt: skip
    ctrl = engine.scratch.ctrl
    helper = split.Helper.get() if engine.step_threads > 1 else None
    sizes = (len(rows), len(st.symbols), len(rows))
    gen = split.begin(ctrl, sizes, helper is not None, engine.scratch.helper_only, engine.scratch.chunk)
    if helper is not None:
        helper.run(minute, args, ctrl, gen)
    minute(*args, ctrl, 0, gen)
    if helper is not None:
        helper.check()
    return out


def _writable_f8(a: np.ndarray) -> np.ndarray:
    """A contiguous, writable float64 array: ``a`` itself when it is one (one array type for numba)."""
    a = np.ascontiguousarray(a, np.float64)
    return a if a.flags.writeable else a.copy()

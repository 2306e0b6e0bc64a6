"""The compiled batch fold: :func:`features.fused.core.minute` folded over history inside one numba loop.

Python only does what :meth:`FeatureEngine.begin_minute` does (a session's corporate actions, registering new
symbols) at the minutes where it is needed, then hands whole stretches of minutes to
:func:`features.fused.core.fold_minutes`. The stepping itself is the online step's code, so a row computed here
is the row a live scorer serves (``tests/features/test_fused.py`` checks both, bit for bit and against the numpy
reference).
"""

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features import fused
from features.fused.core import fold_minutes
from features.reference_step import INPUTS
from marketdata.calendar import session_bounds_ns

if TYPE_CHECKING:
    from features.engine import EngineState, FeatureEngine

DAY_NS = 86_400_000_000_000
CHUNK = 60  # minutes per compiled call: progress callbacks stay lively, the per-call cost stays negligible
EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()


def compiled_fold(
    engine: "FeatureEngine",
    bars: pa.Table,
    grid: np.ndarray,
    st: "EngineState",
    on_minute: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Step every minute of ``grid`` over ``bars`` (sorted by ts, symbol); float32 feature rows in bar order and
    each row's update count (for warm-up checks)."""
    ts = bars.column("ts").cast(pa.int64()).to_numpy()
    x = np.empty((len(ts), len(INPUTS)))
    for k, c in enumerate(INPUTS):
        x[:, k] = bars.column(c).to_numpy(zero_copy_only=False)
    halted = bars.column("halted").to_numpy(zero_copy_only=False).astype(bool)
    bounds = np.searchsorted(ts, grid, "left")
    bounds = np.append(bounds, len(ts))
    symcol = bars.column("symbol")
    uniq = pc.unique(symcol)
    inv = pc.index_in(symcol, value_set=uniq).to_numpy()
    _, first = np.unique(inv, return_index=True)
    uniq = uniq.to_pylist()
    known = st.index()
    new_at = np.unique(np.searchsorted(bounds, first[[s not in known for s in uniq]], "right") - 1)
    day = grid // DAY_NS
    starts = np.union1d(np.union1d([0], np.flatnonzero(np.diff(day)) + 1), new_at)
    cuts = np.union1d(starts, np.arange(0, len(grid), CHUNK))
    cuts = np.append(cuts[cuts < len(grid)], len(grid))
    vix = np.array([engine.vix_at(int(t)) for t in grid]) if engine.uses_vix else np.full(len(grid), np.nan)
    out = np.empty((len(ts), len(engine.names)), np.float32, order="F")  # columns come out contiguous
    counts = np.empty(len(ts), np.int64)
    reg_of: np.ndarray = np.full(len(uniq), -1, np.int64)
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        lo, hi = bounds[a], bounds[a + 1]
        engine.begin_minute(st, int(grid[a]), symcol.slice(lo, hi - lo).to_pylist())
        if a in starts:
            idx = st.index()
            reg_of = np.array([idx.get(s, -1) for s in uniq], np.int64)
        minutes = (grid[a:b] - session_bounds_ns(dt.date.fromordinal(EPOCH_ORDINAL + int(day[a])))[0]) // 60_000_000_000
        weekdays = (day[a:b] + 3) % 7  # 1970-01-01 was a Thursday (weekday 3)
        lo, hi = bounds[a], bounds[b]
        extra = engine.extra_arrays(st)
        fold_minutes(
            grid[a:b],
            minutes,
            weekdays,
            vix[a:b],
            engine.uses_vix,
            bounds[a : b + 1] - lo,
            reg_of[inv[lo:hi]],
            x[lo:hi],
            halted[lo:hi],
            extra["leader"],
            extra["spy"],
            extra["sector_id"],
            st.session,
            engine.engine_arrays(st),
            fused.state_tuples(engine.kernels, st.kernels),
            engine.fused,
            out[lo:hi],
            counts[lo:hi],
        )
        st.last_ts = int(grid[b - 1])
        if on_minute:
            for t in grid[a:b]:
                on_minute(int(t))
    return out, counts

"""The batch fold's Python side: bars table in, feature matrix out, a day at a time through
:func:`features.fused.fold.fold_day`.

The fold works symbol by symbol, so it takes the bars in the lake's order — by symbol, then time — and returns
the feature rows in that order. Bars already in it (anything read from the lake) are used in place; others are
sorted once. Symbols are registered in the order the online step would meet them (by first minute, then by
name), so both paths give a symbol the same ``symbol_id``. Two bars for one (symbol, ts) are refused.
"""

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from numba import njit

from features import fused
from features.fused.fold import day_buffers, fold_day
from features.fused.runs import encode
from features.reference_step import INPUTS
from marketdata.calendar import bar_stamps, is_session, session_bounds_ns

if TYPE_CHECKING:
    from features.engine import EngineState, FeatureEngine

DAY_NS = 86_400_000_000_000
MINUTE_NS = 60_000_000_000
EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()


class Prepared:
    """A bars table in (symbol, ts) order as arrays: stamps, the inputs, halts, a code per symbol (``names[code]``,
    codes in name order)."""

    def __init__(self, bars: pa.Table):
        ts, code, names = encode(bars)
        if first_out_of_order(code, ts) >= 0:
            bars = bars.take(np.lexsort((ts, code)))
            ts, code, names = encode(bars)
        self.bars, self.ts, self.code, self.names = bars, ts, code, names
        dup = first_out_of_order(code, ts)
        if dup >= 0:
            raise self.duplicate(dup)
        self.cols = tuple(_float_column(bars, c) for c in INPUTS)
        self.halted = np.ascontiguousarray(bars.column("halted").to_numpy(zero_copy_only=False), np.bool_)

    def duplicate(self, row: int) -> ValueError:
        """The error for a bar whose (symbol, ts) an earlier row already has."""
        when = pa.scalar(int(self.ts[row]), pa.timestamp("ns", "UTC"))
        name = self.names[int(self.code[row])]
        return ValueError(f"bars_1m has two bars for {name} at {when}: one bar per (symbol, ts) allowed")


@njit(cache=True)
def first_out_of_order(key, ts):
    """The first row not strictly after its predecessor in (key, ts) order, or -1."""
    for r in range(1, ts.shape[0]):
        if key[r] < key[r - 1] or (key[r] == key[r - 1] and ts[r] <= ts[r - 1]):
            return r
    return -1


def minute_grid_of(ts: np.ndarray) -> np.ndarray:
    """Every session minute of the days in ``ts``, plus any stamps of ``ts`` off that grid (sorted)."""
    if not len(ts):
        return np.empty(0, np.int64)
    days = days_present(ts).astype("datetime64[D]")
    grid = [bar_stamps(d.astype(object)) for d in days if is_session(d.astype(object))]
    on = np.concatenate(grid) if grid else np.empty(0, np.int64)
    return np.union1d(on, off_grid(ts, on))


@njit(cache=True)
def days_present(ts):
    """The UTC days (since the epoch, ascending) that ``ts`` has stamps on."""
    lo, hi = ts.min() // DAY_NS, ts.max() // DAY_NS
    seen = np.zeros(hi - lo + 1, np.bool_)
    for t in ts:
        seen[t // DAY_NS - lo] = True
    return np.flatnonzero(seen) + lo


@njit(cache=True)
def off_grid(ts, grid):
    """The stamps of ``ts`` not in ``grid`` (sorted), with repeats: where a stamp follows its predecessor the
    search goes on from there (runs of ascending stamps, as a symbol's rows are), else it starts over."""
    out = np.empty(ts.shape[0], np.int64)
    k = 0
    g = 0
    for r in range(ts.shape[0]):
        t = ts[r]
        if r == 0 or t < ts[r - 1]:
            g = np.searchsorted(grid, t)
        while g < grid.shape[0] and grid[g] < t:
            g += 1
        if g == grid.shape[0] or grid[g] != t:
            out[k] = t
            k += 1
    return out[:k]


@njit(cache=True)
def first_minutes(code, tday, rows, n_codes):
    """Each symbol code's first minute (of its day) among ``rows``; -1 for codes without a bar there."""
    first = np.full(n_codes, -1, np.int64)
    for r in rows:
        c = code[r]
        if first[c] < 0 or tday[r] < first[c]:
            first[c] = tday[r]
    return first


@njit(cache=True)
def grid_days(ts, code, grid, cuts, row_day, tday):
    """Each row's day (index into ``cuts``, the grid's day starts) into ``row_day`` and minute within that day into
    ``tday``: a merge along each symbol's rows (ascending stamps), a binary search where a symbol starts. (Row-sized
    arrays come from numpy: allocated here they would fault in 4 KiB pages, ~6 ns a row on this machine.)"""
    gday = np.empty(grid.shape[0], np.int64)
    for d in range(cuts.shape[0] - 1):
        gday[cuts[d] : cuts[d + 1]] = d
    g = 0
    for r in range(ts.shape[0]):
        if r == 0 or code[r] != code[r - 1]:
            g = np.searchsorted(grid, ts[r])
        while grid[g] < ts[r]:
            g += 1
        d = gday[g]
        row_day[r], tday[r] = d, g - cuts[d]
    return row_day, tday


@njit(cache=True)
def day_spans(reg, code, rows, n):
    """Each registry row's rows among ``rows`` (a day's, ascending; a symbol's are contiguous in (symbol, ts)
    order) as ``(start, stop)`` arrays; empty where it has none."""
    lo = np.zeros(n, np.int64)
    hi = np.zeros(n, np.int64)
    for r in rows:
        i = reg[code[r]]
        if hi[i] == 0:
            lo[i] = r
        hi[i] = r + 1
    return lo, hi


def compiled_fold(
    engine: "FeatureEngine",
    prep: Prepared,
    grid: np.ndarray,
    st: "EngineState",
    on_minute: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Step every minute of ``grid`` over the prepared bars; float32 feature rows, row for row with ``prep.bars``
    (column-major, so each column is contiguous), and each row's update count (for warm-up checks)."""
    ts, code, names = prep.ts, prep.code, prep.names
    params = engine.fused
    assert params is not None, "compiled_fold needs the compiled engine"
    out = pooled((len(engine.names), len(ts)), np.float32).T  # column-major: each column contiguous
    counts = np.empty(len(ts), np.int64)
    day = grid // DAY_NS
    cuts = np.r_[0, np.flatnonzero(np.diff(day)) + 1, len(grid)]
    row_day, tday = grid_days(ts, code, grid, cuts, np.empty(len(ts), np.int64), np.empty(len(ts), np.int64))
    monotone = len(ts) < 2 or bool(np.all(row_day[1:] >= row_day[:-1]))
    by_day = np.arange(len(ts)) if monotone else np.argsort(row_day, kind="stable")
    day_bounds = np.searchsorted(row_day[by_day], np.arange(len(cuts)))
    engine.scratch.fold_clock[:] = 0
    for d, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
        rows = by_day[day_bounds[d] : day_bounds[d + 1]]
        first = first_minutes(code, tday, rows, len(names))
        known = st.index()
        new = sorted((c for c in np.flatnonzero(first >= 0) if names[c] not in known), key=lambda c: (first[c], c))
        engine.begin_day(st, int(grid[a]), [names[c] for c in new])  # the online step's order: first minute, name
        idx = st.index()
        reg = np.array([idx.get(s, -1) for s in names], np.int64)
        n = len(st.symbols)
        span = day_spans(reg, code, rows, n)
        since = np.zeros(n, np.int64)  # a newcomer exists (as a leader, say) from its first bar on
        since[n - len(new) :] = first[np.array(new, np.int64)]
        minutes = (grid[a:b] - session_bounds_ns(dt.date.fromordinal(EPOCH_ORDINAL + int(day[a])))[0]) // MINUTE_NS
        x = engine.extra_arrays(st)
        fold_day(grid[a:b], minutes, (day[a:b] + 3) % 7, st.session,  # 1970-01-01 was a Thursday (weekday 3)
                 engine.vix_series(grid[a:b]), engine.uses_vix, since, span, tday, prep.cols, prep.halted, x["leader"],
                 x["spy"], x["lslot"], x["leaders"], x["sector_id"], engine.engine_arrays(st),
                 fused.state_tuples(engine.kernels, st.kernels), params, out, counts,
                 day_buffers(b - a, n, len(x["leaders"]), len(params.x_windows), len(params.ffd_w),
                             engine.scratch.fold_clock))  # fmt: skip
        st.last_ts = int(grid[b - 1])
        if on_minute:
            for t in grid[a:b]:
                on_minute(int(t))
    return out, counts


def pooled(shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """An uninitialized C-order array in Arrow's memory pool. The pool (mimalloc) keeps freed memory for the next
    allocation: a fold's 290 MB of feature rows for 5,000 symbols, faulted in afresh from the kernel each time numpy
    allocates it (18 ms), cost a rewrite (11 ms) from the second day or run on."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return np.frombuffer(pa.allocate_buffer(size), dtype).reshape(shape)


def _float_column(bars: pa.Table, name: str) -> np.ndarray:
    """A float64 column as numpy: zero-copy where Arrow allows; always read-only (numba wants one array type)."""
    arr = np.ascontiguousarray(bars.column(name).to_numpy(), np.float64)  # one chunk without nulls: no copy
    arr.flags.writeable = False
    return arr

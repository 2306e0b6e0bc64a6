"""The batch fold's Python side: bars table in, feature matrix out, a day at a time through
:func:`features.fused.fold.fold_day`.

The bars may come in any row order (the lake stores a day symbol by symbol); the fold never sorts them: the
feature rows come back row for row with the input, and a (minute, symbol) -> row map tells the compiled code
where each bar is. Symbols are registered in the order the online step would meet them (by first minute, then
by name), so both paths give a symbol the same ``symbol_id``. Two bars for one (symbol, ts) are refused.
"""

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from features import fused
from features.fused.fold import BLOCK, fold_day
from features.reference_step import INPUTS
from marketdata.calendar import bar_stamps, is_session, session_bounds_ns

if TYPE_CHECKING:
    from features.engine import EngineState, FeatureEngine

DAY_NS = 86_400_000_000_000
MINUTE_NS = 60_000_000_000
EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()


class Prepared:
    """A bars table as arrays: stamps, the inputs, halts, and a code per symbol (``names[code]``)."""

    def __init__(self, bars: pa.Table):
        enc = pc.dictionary_encode(bars.column("symbol")).combine_chunks()
        self.bars = bars
        self.ts = bars.column("ts").cast(pa.int64()).to_numpy()
        self.code = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        self.names: list[str] = enc.dictionary.to_pylist()
        self.rank = np.empty(len(self.names), np.int64)  # each code's place in name order
        self.rank[pc.array_sort_indices(enc.dictionary).to_numpy()] = np.arange(len(self.names))
        self.cols = tuple(_float_column(bars, c) for c in INPUTS)
        self.halted = np.ascontiguousarray(bars.column("halted").to_numpy(zero_copy_only=False), np.bool_)

    def duplicate(self, row: int) -> ValueError:
        when = pa.scalar(int(self.ts[row]), pa.timestamp("ns", "UTC"))
        return ValueError(
            f"bars_1m has two bars for {self.names[int(self.code[row])]} at {when}: one bar per (symbol, ts) allowed"
        )


def minute_grid_of(ts: np.ndarray) -> np.ndarray:
    """Every session minute of the days in ``ts``, plus any stamps of ``ts`` off that grid (sorted)."""
    sorted_ts = ts if len(ts) < 2 or bool(np.all(ts[1:] >= ts[:-1])) else np.sort(ts)
    stamps = sorted_ts[np.r_[True, sorted_ts[1:] != sorted_ts[:-1]]] if len(ts) else ts
    days = np.unique(stamps.astype("datetime64[ns]").astype("datetime64[D]"))
    grid = [bar_stamps(d.astype(object)) for d in days if is_session(d.astype(object))]
    return np.union1d(np.concatenate(grid) if grid else np.empty(0, np.int64), stamps)


@njit(cache=True)
def first_minutes(code, tidx, rows, n_codes):
    """Each symbol code's first minute (grid index) among ``rows``; -1 for codes without a bar there."""
    first = np.full(n_codes, -1, np.int64)
    for r in rows:
        c = code[r]
        if first[c] < 0 or tidx[r] < first[c]:
            first[c] = tidx[r]
    return first


@njit(cache=True)
def fill_rowmap(rowmap, tidx, reg, code, rows, t0):
    """``rowmap[t, symbol] = row`` for ``rows``; the first row that repeats a (minute, symbol), or -1."""
    for r in rows:
        t, i = tidx[r] - t0, reg[code[r]]
        if rowmap[t, i] >= 0:
            return r
        rowmap[t, i] = r
    return -1


def compiled_fold(
    engine: "FeatureEngine",
    prep: Prepared,
    grid: np.ndarray,
    st: "EngineState",
    on_minute: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Step every minute of ``grid`` over the prepared bars; float32 feature rows, row for row with the bars
    (column-major, so each column is contiguous), and each row's update count (for warm-up checks)."""
    ts, code, names = prep.ts, prep.code, prep.names
    tidx = np.searchsorted(grid, ts)
    out = np.empty((len(ts), len(engine.names)), np.float32, order="F")
    counts = np.empty(len(ts), np.int64)
    day = grid // DAY_NS
    cuts = np.r_[0, np.flatnonzero(np.diff(day)) + 1, len(grid)]
    row_day = np.searchsorted(cuts, tidx, "right") - 1
    monotone = len(ts) < 2 or bool(np.all(row_day[1:] >= row_day[:-1]))
    by_day = np.arange(len(ts)) if monotone else np.argsort(row_day, kind="stable")
    day_bounds = np.searchsorted(row_day[by_day], np.arange(len(cuts)))
    for d, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
        rows = by_day[day_bounds[d] : day_bounds[d + 1]]
        first = first_minutes(code, tidx, rows, len(names))
        known = st.index()
        new = sorted(
            (c for c in np.flatnonzero(first >= 0) if names[c] not in known), key=lambda c: (first[c], prep.rank[c])
        )
        engine.begin_day(st, int(grid[a]), [names[c] for c in new])  # the online step's order: first minute, name
        idx = st.index()
        reg = np.array([idx.get(s, -1) for s in names], np.int64)
        n = len(st.symbols)
        rowmap = np.full((b - a, n), -1, np.int64)
        dup = fill_rowmap(rowmap, tidx, reg, code, rows, a)
        if dup >= 0:
            raise prep.duplicate(dup)
        since = np.zeros(n, np.int64)  # a newcomer exists (as a leader, say) from its first bar on
        since[n - len(new) :] = first[np.array(new, np.int64)] - a
        minutes = (grid[a:b] - session_bounds_ns(dt.date.fromordinal(EPOCH_ORDINAL + int(day[a])))[0]) // MINUTE_NS
        x = engine.extra_arrays(st)
        fold_day(grid[a:b], minutes, (day[a:b] + 3) % 7, st.session,  # 1970-01-01 was a Thursday (weekday 3)
                 engine.vix_series(grid[a:b]), engine.uses_vix, since, rowmap, prep.cols, prep.halted, x["leader"],
                 x["spy"], x["lslot"], x["sector_id"], engine.engine_arrays(st),
                 fused.state_tuples(engine.kernels, st.kernels), engine.fused, out, counts, BLOCK)  # fmt: skip
        st.last_ts = int(grid[b - 1])
        if on_minute:
            for t in grid[a:b]:
                on_minute(int(t))
    return out, counts


@njit(cache=True)
def validity(col):
    """Arrow validity bitmap (LSB first) of a float column: a bit per value, set where it is not NaN."""
    n = col.shape[0]
    bits = np.zeros((n + 7) // 8, np.uint8)
    nulls = 0
    for byte in range(n // 8):
        b = 0
        for k in range(8):
            ok = not np.isnan(col[byte * 8 + k])
            b |= (1 if ok else 0) << k
            nulls += 0 if ok else 1
        bits[byte] = b
    for r in range(n - n % 8, n):
        if np.isnan(col[r]):
            nulls += 1
        else:
            bits[r // 8] |= 1 << (r % 8)
    return bits, nulls


def float32_array(col: np.ndarray) -> pa.Array:
    """A contiguous float32 column as an Arrow array with NaN as null, without copying the values."""
    bits, nulls = validity(col)
    buffers = [pa.py_buffer(bits) if nulls else None, pa.py_buffer(col)]
    return pa.Array.from_buffers(pa.float32(), len(col), buffers, null_count=nulls)


def _float_column(bars: pa.Table, name: str) -> np.ndarray:
    """A float64 column as numpy: zero-copy where Arrow allows; always read-only (numba wants one array type)."""
    col = bars.column(name)
    arr = col.to_numpy(zero_copy_only=False) if col.null_count else col.combine_chunks().to_numpy()
    arr = np.ascontiguousarray(arr, np.float64)
    arr.flags.writeable = False
    return arr

"""The batch path: fold :meth:`FeatureEngine.step` over history in time order, and the shared minute loop.

Both paths step every regular-session minute of every session in the data (plus any off-grid bar stamps), in
time order, so state such as the FFD minute grid advances identically online and offline.
"""

from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from features.engine import EngineState, FeatureEngine
from features.fused.driver import Prepared, compiled_fold, minute_grid_of
from features.reference_step import INPUTS
from marketdata.calendar import bar_stamps, is_session, session_of
from marketdata.schemas import TS


def minute_grid(ts: np.ndarray) -> np.ndarray:
    """Every session-minute stamp of the days present in ``ts``, plus any stamps of ``ts`` off that grid."""
    days = np.unique(session_of(ts))
    grid = [bar_stamps(d.astype(object)) for d in days if is_session(d.astype(object))]
    return np.union1d(np.concatenate(grid) if grid else np.empty(0, np.int64), np.unique(ts))


def cross_sections(
    bars: pa.Table, presorted: bool = False
) -> Iterator[tuple[int, list[str], dict[str, np.ndarray], np.ndarray]]:
    """``(ts, symbols, columns, halted)`` for every grid minute, in time order (empty minutes included)."""
    if not presorted:
        bars = bars.sort_by([("ts", "ascending"), ("symbol", "ascending")])
    ts = bars.column("ts").cast(pa.int64()).to_numpy()
    sym = np.asarray(bars.column("symbol").to_pylist(), dtype=object)
    cols = {c: bars.column(c).to_numpy(zero_copy_only=False).astype(float) for c in INPUTS}
    halted = bars.column("halted").to_numpy(zero_copy_only=False).astype(bool)
    for t in minute_grid(ts):
        lo, hi = np.searchsorted(ts, t, "left"), np.searchsorted(ts, t, "right")
        yield int(t), sym[lo:hi].tolist(), {c: v[lo:hi] for c, v in cols.items()}, halted[lo:hi]


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


def features_table(engine: FeatureEngine, symbols, ts, rows: list[np.ndarray] | np.ndarray) -> pa.Table:
    """Feature rows as a ``features_1m`` table (float32 columns, in the engine's order)."""
    if isinstance(rows, np.ndarray):
        values = rows
    else:
        values = np.vstack(rows) if rows else np.empty((0, len(engine.names)))
    sym = symbols if isinstance(symbols, pa.ChunkedArray | pa.Array) else pa.array(symbols, pa.string())
    stamp = ts.cast(TS) if isinstance(ts, pa.ChunkedArray | pa.Array) else pa.array(np.asarray(ts, np.int64)).cast(TS)
    arrays = {"symbol": sym.cast(pa.string()), "ts": stamp}
    for j, name in enumerate(engine.names):
        arrays[name] = float32_array(np.ascontiguousarray(values[:, j], np.float32))
    return pa.table(arrays)


def fold(
    engine: FeatureEngine,
    bars: pa.Table,
    state: EngineState | None = None,
    on_minute: Callable[[int], None] | None = None,
    counts: list[np.ndarray] | None = None,
) -> tuple[pa.Table, EngineState]:
    """Offline features for ``bars`` (continuing from ``state`` if given), one row per bar in (symbol, ts) order —
    the lake's order, in which the fold reads bars without sorting them; bars at or before the state's last
    minute are skipped.

    ``counts``, when given, receives per emitted row how many bars the symbol has updated with (warm-up checks).
    """
    st = engine.adopt(state) if state is not None else engine.new_state()
    if st.last_ts:
        bars = bars.filter(pc.greater(bars.column("ts").cast(pa.int64()), st.last_ts))
    prep = Prepared(bars)
    bars = prep.bars
    if bars.num_rows == 0:  # nothing after the state's last minute (the fold steps whole sessions)
        if counts is not None:
            counts.append(np.empty(0, np.int64))
        return features_table(engine, bars.column("symbol"), bars.column("ts"), np.empty((0, len(engine.names)))), st
    if engine.fused is not None:
        values, nupd = compiled_fold(engine, prep, minute_grid_of(prep.ts), st, on_minute)
        if counts is not None:
            counts.append(nupd)
        return features_table(engine, bars.column("symbol"), bars.column("ts"), values), st
    # the numpy reference: step minute by minute over the time-sorted bars, then put rows back in (symbol, ts)
    order = pc.sort_indices(bars, [("ts", "ascending"), ("symbol", "ascending")]).to_numpy()
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    rows: list[np.ndarray] = []
    nupd_rows: list[np.ndarray] = []
    for t, syms, cols, halted in cross_sections(bars.take(order), presorted=True):
        st, vals = engine.step(st, t, syms, cols, halted)
        if syms:
            nupd_rows.append(st.nupd[[st.index()[s] for s in syms]])
            rows.append(vals)
        if on_minute:
            on_minute(t)
    values = (np.vstack(rows) if rows else np.empty((0, len(engine.names))))[inverse]
    if counts is not None:
        counts.append(np.concatenate(nupd_rows)[inverse] if nupd_rows else np.empty(0, np.int64))
    return features_table(engine, bars.column("symbol"), bars.column("ts"), values), st

"""The batch path: fold :meth:`FeatureEngine.step` over history in time order, and the shared minute loop.

Both paths step every regular-session minute of every session in the data (plus any off-grid bar stamps), in
time order, so state such as the FFD minute grid advances identically online and offline.
"""

from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.engine import INPUTS, EngineState, FeatureEngine
from features.fused.fold import compiled_fold
from marketdata.calendar import bar_stamps, is_session, session_of
from marketdata.schemas import TS


def minute_grid(ts: np.ndarray) -> np.ndarray:
    """Every session-minute stamp of the days present in ``ts``, plus any stamps of ``ts`` off that grid."""
    days = np.unique(session_of(ts))
    grid = [bar_stamps(d.astype(object)) for d in days if is_session(d.astype(object))]
    return np.union1d(np.concatenate(grid) if grid else np.empty(0, np.int64), np.unique(ts))


def cross_sections(bars: pa.Table) -> Iterator[tuple[int, list[str], dict[str, np.ndarray], np.ndarray]]:
    """``(ts, symbols, columns, halted)`` for every grid minute, in time order (empty minutes included)."""
    bars = bars.sort_by([("ts", "ascending"), ("symbol", "ascending")])
    ts = bars.column("ts").cast(pa.int64()).to_numpy()
    sym = np.asarray(bars.column("symbol").to_pylist(), dtype=object)
    cols = {c: bars.column(c).to_numpy(zero_copy_only=False).astype(float) for c in INPUTS}
    halted = bars.column("halted").to_numpy(zero_copy_only=False).astype(bool)
    for t in minute_grid(ts):
        lo, hi = np.searchsorted(ts, t, "left"), np.searchsorted(ts, t, "right")
        yield int(t), sym[lo:hi].tolist(), {c: v[lo:hi] for c, v in cols.items()}, halted[lo:hi]


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
        v = values[:, j].astype(np.float32, copy=False)
        arrays[name] = pa.array(v, pa.float32(), mask=np.isnan(v))
    return pa.table(arrays)


def fold(
    engine: FeatureEngine,
    bars: pa.Table,
    state: EngineState | None = None,
    on_minute: Callable[[int], None] | None = None,
    counts: list[np.ndarray] | None = None,
) -> tuple[pa.Table, EngineState]:
    """Offline features for ``bars`` (continuing from ``state`` if given): the reference batch path.

    ``counts``, when given, receives per emitted row how many bars the symbol has updated with (warm-up checks).
    """
    st = state if state is not None else engine.new_state()
    if st.last_ts:
        bars = bars.filter(pc.greater(bars.column("ts").cast(pa.int64()), st.last_ts))
    if engine.fused is not None:
        bars = bars.sort_by([("ts", "ascending"), ("symbol", "ascending")])
        grid = minute_grid(bars.column("ts").cast(pa.int64()).to_numpy())
        values, nupd = compiled_fold(engine, bars, grid, st, on_minute)
        if counts is not None:
            counts.append(nupd)
        return features_table(engine, bars.column("symbol"), bars.column("ts"), values), st
    out_sym: list = []
    out_ts: list = []
    rows: list[np.ndarray] = []
    for t, syms, cols, halted in cross_sections(bars):
        st, vals = engine.step(st, t, syms, cols, halted)
        if syms:
            if counts is not None:
                counts.append(st.nupd[[st.index()[s] for s in syms]])
            out_sym.extend(syms)
            out_ts.extend([t] * len(syms))
            rows.append(vals)
        if on_minute:
            on_minute(t)
    return features_table(engine, out_sym, out_ts, rows), st

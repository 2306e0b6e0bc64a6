"""The numpy reference step: each kernel's vectorized ``step`` over the cross-section, in kernel order.

This is the readable definition of every feature (the kernels in :mod:`features.kernels`, with their doctests
and reference tests). The engine runs the compiled :mod:`features.fused` step for the default feature set;
``FeatureEngine(compiled=False)`` runs this one, and the parity tests hold the two together.
"""

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np

from features.context import context_columns
from features.spec import StepInput

if TYPE_CHECKING:
    from features.engine import EngineState, FeatureEngine

INPUTS = ("open", "high", "low", "close", "volume", "vwap", "bid", "ask", "bid_size", "ask_size")


def reference_step(
    engine: "FeatureEngine",
    st: "EngineState",
    ts: int,
    day: dt.date,
    minute: int,
    rows: np.ndarray,
    cols: dict[str, np.ndarray],
    halted: np.ndarray,
) -> np.ndarray:
    """One minute through the numpy kernels (after :meth:`FeatureEngine.begin_minute`); the feature rows."""
    n = len(st.symbols)
    present = np.zeros(n, bool)
    present[rows] = True
    h = np.zeros(n, bool)
    h[rows] = halted
    upd = present & ~h
    full = {c: np.full(n, np.nan) for c in INPUTS}
    for c in INPUTS:
        full[c][rows] = cols[c]
    first_today = st.last_session != st.session
    prev_close = np.where(first_today | np.isnan(st.last_close), full["open"], st.last_close)
    with np.errstate(divide="ignore", invalid="ignore"):
        ret1 = np.where(upd, np.log(full["close"] / prev_close), 0.0)
    extra = engine.extra_arrays(st)
    extra["session"] = st.session
    x = StepInput(
        ts,
        present,
        upd,
        h,
        full["open"],
        full["high"],
        full["low"],
        full["close"],
        full["volume"],
        full["vwap"],
        full["bid"],
        full["ask"],
        full["bid_size"],
        full["ask_size"],
        prev_close,
        ret1,
        minute,
        bool(first_today[rows].any()) if len(rows) else False,
        extra,
    )
    fresh = np.empty((engine.n_kernel_features, n))
    for k, ks, (a, _b, names) in zip(engine.kernels, st.kernels, engine.kernel_cols, strict=True):
        out = k.step(ks, x)
        for j, name in enumerate(names):
            fresh[a + j] = out[name]
    if engine.uses_vix:
        fresh[engine.mkt_vol_col] = engine.vix_at(ts)
    nupd = st.nupd + upd
    fresh[nupd[None, :] < engine.warmup[:, None]] = np.nan
    np.copyto(st.last_out, fresh, where=upd)
    st.nupd = nupd
    st.last_close = np.where(upd, full["close"], st.last_close)
    st.last_session = np.where(upd, st.session, st.last_session)
    st.last_upd_ts = np.where(upd, ts, st.last_upd_ts)
    st.last_ts = ts
    stale = (ts - st.last_upd_ts[rows]) / 60e9
    sector = extra["sector_id"][rows]
    ctx = context_columns(minute, day.weekday(), halted, stale, rows, sector)
    return np.hstack([st.last_out[:, rows].T, ctx])

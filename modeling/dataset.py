"""Features + labels -> a point-in-time training set (float32, events only)."""

from collections.abc import Callable, Iterable

import numpy as np
import pyarrow as pa

from features.batch import fold
from features.engine import FeatureEngine
from features.pit import asof_join
from modeling.labels import LabelConfig, forward_returns, half_spreads, make_labels
from modeling.train import CATEGORICAL, Dataset

NOT_FEATURES = {"symbol", "ts", "t1", "label", "ret", "weight", "fwd", "half_spread", "halted_bar"}


def build_dataset(bars: pa.Table, features: pa.Table, cfg: LabelConfig, labels: pa.Table | None = None) -> Dataset:
    """Join each label event to the feature row stamped at or before it (never after), attach the forward return
    a taker books from the event's own minute (:func:`forward_returns`: for IC and the backtest) and the half
    spread at the event."""
    labels = labels if labels is not None else make_labels(bars, cfg)
    fwd = forward_returns(bars, cfg.horizon, cfg.vol_halflife)
    spread = half_spreads(bars).select(["symbol", "ts", "half_spread"])
    ev = asof_join(labels, features)
    ev = asof_join(ev, fwd, tolerance="0ns")  # the return starting at the event: never an earlier, overlapping one
    ev = asof_join(ev, spread)
    names = [c for c in features.column_names if c not in NOT_FEATURES]
    X = np.column_stack([ev.column(n).to_numpy(zero_copy_only=False).astype(np.float32) for n in names])
    for c in CATEGORICAL:
        if c in names:  # LightGBM categoricals must be non-negative: unknown sector (-1) becomes missing
            j = names.index(c)
            X[:, j] = np.where(X[:, j] < 0, np.nan, X[:, j])
    ts = ev.column("ts").cast(pa.int64()).to_numpy()
    t1 = ev.column("t1").cast(pa.int64()).to_numpy()
    order = np.argsort(ts, kind="stable")
    extra = {
        "symbol": np.asarray(ev.column("symbol").to_pylist(), dtype=object),
        "fwd": ev.column("fwd").to_numpy(zero_copy_only=False).astype(float),
        "half_spread": ev.column("half_spread").to_numpy(zero_copy_only=False).astype(float),
        "ret": ev.column("ret").to_numpy(),
    }
    d = Dataset(X, ev.column("label").to_numpy().astype(np.int8), ev.column("weight").to_numpy(), ts, t1, names, extra)
    return d.take(order)


def build_by_session(
    sessions: Iterable[pa.Table],
    engine: FeatureEngine,
    cfg: LabelConfig,
    on_session: Callable[[int], None] | None = None,
) -> Dataset:
    """:func:`build_dataset` one session at a time, as the Dagster assets build it: the features fold from the
    state the session before left, the labels are the session's own (sigma restarts each session and no window
    crosses the close). Only one session's bars and features are held beside the growing float32 matrix. It
    equals one continuous build (a session's data ends at its own last bar either way). ``on_session`` is told
    each session's bar count (progress)."""
    state, parts = None, []
    for bars in sessions:
        feats, state = fold(engine, bars, state)
        parts.append(build_dataset(bars, feats, cfg))
        del feats
        if on_session:
            on_session(bars.num_rows)
    if not parts:
        raise ValueError("no sessions to build a dataset from")
    return Dataset(
        np.concatenate([p.X for p in parts]),
        np.concatenate([p.y for p in parts]),
        np.concatenate([p.w for p in parts]),
        np.concatenate([p.ts for p in parts]),
        np.concatenate([p.t1 for p in parts]),
        parts[0].names,
        {k: np.concatenate([p.extra[k] for p in parts]) for k in parts[0].extra},
    )

"""Adversarial validation: can a classifier tell last week's feature rows from this week's?

Rows of the two windows get labels 0 (reference) and 1 (current); LightGBM is scored out of fold on a purged
split — each fold tests one contiguous block of each window's minutes and trains on the rest minus everything
within ``embargo_minutes`` of the test blocks (neighbouring minutes share their rolling windows, so an unpurged
split would let the model recognise rows by their neighbours and raise false alarms). An AUC near 0.5 means the
windows look alike; the features carrying the gain are the ones that moved.
"""

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
from sklearn.metrics import roc_auc_score

M = 60_000_000_000
DAY = 86_400_000_000_000
PARAMS = {
    "objective": "binary",
    "learning_rate": 0.1,
    "num_leaves": 4,
    "min_data_in_leaf": 2000,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "verbose": -1,
    "num_threads": 1,
    "seed": 7,
}


# Besides the identity/clock columns, leave out what is one number per minute for the whole market (SPY and sector
# ETF returns, SPY volatility: a week holds only five draws of them, so any two weeks "differ") and the
# memory-preserving FFD price, whose level is the price level. PSI still watches all of them.
MARKET_WIDE = ("mkt_vol", "spy_ret_1", "spy_ret_2", "spy_ret_5", "lead_ret_1", "lead_ret_2", "lead_ret_5")


def adversarial_columns(names: list[str]) -> list[str]:
    """The columns the adversarial classifier sees.

    >>> adversarial_columns(["atr_14", "mkt_vol", "ffd_40", "symbol_id", "spread_bps"])
    ['atr_14', 'spread_bps']
    """
    from monitoring.drift import NOT_DRIFT

    return [n for n in names if n not in NOT_DRIFT and n not in MARKET_WIDE and not n.startswith("ffd_")]


@dataclass
class AdversarialResult:
    auc: float
    fold_aucs: list[float]
    top: list[tuple[str, float]]  # (feature, share of gain), descending
    rows: tuple[int, int]


def purged_blocks(
    ts: np.ndarray, window: np.ndarray, folds: int, embargo_ns: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs: test = block k of every window (whole sessions when a window spans at least
    ``folds`` of them, else contiguous runs of minutes); train = the rest, purged ``embargo_ns`` around the test.

    Whole sessions matter: market-wide features (SPY volatility) are nearly constant within a day, so a model
    trained on the morning would recognise the afternoon of the same day and call two calm weeks different.

    >>> ts = np.arange(20) * M
    >>> w = (np.arange(20) >= 10).astype(int)
    >>> [(tr.tolist(), te.tolist()) for tr, te in purged_blocks(ts, w, 2, 1 * M)][0]
    ([6, 7, 8, 9, 16, 17, 18, 19], [0, 1, 2, 3, 4, 10, 11, 12, 13, 14])
    """
    out = []
    bounds: dict[int, list[tuple[int, int]]] = {}
    for g in np.unique(window):
        t = np.unique(ts[window == g])
        days = np.unique(t // DAY)
        if len(days) >= folds:
            bounds[g] = [(int(d[0] * DAY), int((d[-1] + 1) * DAY - 1)) for d in np.array_split(days, folds)]
        else:
            bounds[g] = [(int(t[i[0]]), int(t[i[-1]])) for i in np.array_split(np.arange(len(t)), folds) if len(i)]
    for k in range(folds):
        test = np.zeros(len(ts), bool)
        keep = np.ones(len(ts), bool)
        for g, blocks in bounds.items():
            if k >= len(blocks):
                continue
            lo, hi = blocks[k]
            mine = window == g
            test |= mine & (ts >= lo) & (ts <= hi)
            keep &= ~(mine & (ts >= lo - embargo_ns) & (ts <= hi + embargo_ns))
        if test.any() and keep.any():
            out.append((np.flatnonzero(keep), np.flatnonzero(test)))
    return out


def adversarial_validation(
    ref_X: np.ndarray,
    ref_ts: np.ndarray,
    cur_X: np.ndarray,
    cur_ts: np.ndarray,
    names: list[str],
    folds: int = 4,
    embargo_minutes: int = 60,
    max_rows: int = 40_000,
    rounds: int = 50,
    seed: int = 0,
) -> AdversarialResult:
    """Out-of-fold AUC of reference-vs-current and the features that separate them (mean gain share)."""
    if len(ref_X) == 0 or len(cur_X) == 0:
        raise ValueError(f"adversarial validation needs rows in both windows (got {len(ref_X)} and {len(cur_X)})")
    rng = np.random.default_rng(seed)

    def thin(X: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(X) <= max_rows:
            return X, ts
        idx = np.sort(rng.choice(len(X), max_rows, replace=False))
        return X[idx], ts[idx]

    ref_X, ref_ts = thin(ref_X, ref_ts)
    cur_X, cur_ts = thin(cur_X, cur_ts)
    X = np.vstack([ref_X, cur_X]).astype(np.float32)
    ts = np.concatenate([ref_ts, cur_ts]).astype(np.int64)
    y = np.r_[np.zeros(len(ref_X)), np.ones(len(cur_X))]
    oof = np.full(len(y), np.nan)
    gains = np.zeros(X.shape[1])
    aucs = []
    for train, test in purged_blocks(ts, y.astype(int), folds, embargo_minutes * M):
        if len(np.unique(y[train])) < 2 or len(np.unique(y[test])) < 2:
            continue
        ds = lgb.Dataset(X[train], y[train], feature_name=list(names), free_raw_data=True)
        b = lgb.train(PARAMS, ds, num_boost_round=rounds)
        oof[test] = b.predict(X[test])
        aucs.append(float(roc_auc_score(y[test], oof[test])))
        g = b.feature_importance("gain")
        gains += g / g.sum() if g.sum() > 0 else 0
    if not aucs:
        raise ValueError("adversarial validation: no fold had both windows in train and test; widen the windows")
    done = np.isfinite(oof)
    auc = float(roc_auc_score(y[done], oof[done]))
    share = gains / max(len(aucs), 1)
    top = sorted(zip(names, share.tolist(), strict=True), key=lambda kv: -kv[1])
    return AdversarialResult(auc, aucs, top, (len(ref_X), len(cur_X)))

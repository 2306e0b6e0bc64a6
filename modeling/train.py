"""Models: a logistic baseline on standardized features and LightGBM with symbol and sector as categoricals.

Both fit on a training fold only (the scaler too). LightGBM early-stops on a purged validation slice: the last
part of the training window in time, with a gap of one label horizon so no validation label overlaps training.
"""

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

CATEGORICAL = ("symbol_id", "sector_id")
DEFAULT_LGBM = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "max_depth": 5,
    "min_data_in_leaf": 200,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
    "num_threads": 1,  # explicit: two threads on a busy 2-core box slowed training 60x (STACK.md)
    "seed": 7,
    "max_cat_to_onehot": 4,
    "cat_smooth": 50,
    # a high-cardinality symbol id overfits noise fast: few splits, big groups, strong L2 on categories
    "max_cat_threshold": 8,
    "min_data_per_group": 2000,
    "cat_l2": 50.0,
}


@dataclass
class Dataset:
    """Float32 feature matrix with names; labels, weights and the rows' times and label ends."""

    X: np.ndarray
    y: np.ndarray
    w: np.ndarray
    ts: np.ndarray
    t1: np.ndarray
    names: list[str]
    extra: dict = field(default_factory=dict)

    def take(self, idx: np.ndarray) -> "Dataset":
        return Dataset(
            self.X[idx],
            self.y[idx],
            self.w[idx],
            self.ts[idx],
            self.t1[idx],
            self.names,
            {k: v[idx] for k, v in self.extra.items()},
        )


def fit_logistic(d: Dataset):  # type: ignore[no-untyped-def]
    """Standardize (fit on this fold) + L2 logistic regression; NaNs become the fold's column means."""
    means = _column_means(d.X)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=300))
    model.fit(_impute(d.X, means), d.y, logisticregression__sample_weight=d.w)
    model.impute_means_ = means
    return model


def predict_logistic(model, X: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    return model.predict_proba(_impute(X, model.impute_means_))[:, 1]


def _column_means(X: np.ndarray) -> np.ndarray:
    """Each column's mean over its finite values; 0 for a column with none (a feature the data cannot give, such
    as the spread of bars without quotes: it then carries no information, rather than a warning per fold)."""
    n = (~np.isnan(X)).sum(axis=0)
    return np.where(n > 0, np.nansum(X, axis=0, dtype=np.float64) / np.maximum(n, 1), 0.0)


def _impute(X: np.ndarray, means: np.ndarray) -> np.ndarray:
    X = X.astype(np.float64, copy=True)
    bad = np.isnan(X)
    X[bad] = np.take(np.nan_to_num(means), np.nonzero(bad)[1])
    return X


def validation_split(d: Dataset, frac: float = 0.2, gap_ns: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Last ``frac`` of the training window (by time) for early stopping, purged by ``gap_ns`` + label spans."""
    cut = np.quantile(d.ts, 1 - frac)
    valid = np.flatnonzero(d.ts >= cut)
    train = np.flatnonzero((d.t1 < cut) & (d.ts <= cut - gap_ns))
    return train, valid


def fit_lgbm(d: Dataset, params: dict | None = None, num_boost_round: int = 400, gap_ns: int = 0) -> lgb.Booster:
    p = {**DEFAULT_LGBM, **(params or {})}
    cats = [n for n in CATEGORICAL if n in d.names]
    tr, va = validation_split(d, 0.2, gap_ns)
    dtrain = lgb.Dataset(
        d.X[tr], d.y[tr], weight=d.w[tr], feature_name=d.names, categorical_feature=cats, free_raw_data=True
    )
    dvalid = lgb.Dataset(d.X[va], d.y[va], weight=d.w[va], reference=dtrain)
    return lgb.train(
        p,
        dtrain,
        num_boost_round=num_boost_round,
        valid_sets=[dvalid],
        callbacks=[lgb.early_stopping(30, verbose=False)],
    )


def importance(model: lgb.Booster) -> list[tuple[str, float]]:
    gain = model.feature_importance("gain")
    total = gain.sum() or 1.0
    return sorted(zip(model.feature_name(), (gain / total).tolist(), strict=True), key=lambda kv: -kv[1])

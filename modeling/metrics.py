"""Out-of-sample metrics: log-loss, ROC-AUC, F1, PR-AUC, IC/ICIR per minute, precision@K, Brier score and
calibration.

Calibration is measured on equal-count bins of ``p``: a direction model's probabilities crowd near 0.5, where
equal-width bins would put nearly every prediction in one or two bins.

>>> rng = np.random.default_rng(0)
>>> p = rng.uniform(0.3, 0.7, 100_000)
>>> y = (rng.random(100_000) < p).astype(int)  # calibrated by construction
>>> round(expected_calibration_error(y, p), 3) < 0.01, expected_calibration_error(y, 0.5 + 2 * (p - 0.5)) > 0.05
(True, True)
"""

import numpy as np
import polars as pl
from sklearn.metrics import average_precision_score, brier_score_loss, f1_score, log_loss, roc_auc_score

from modeling.backtest import overlap_variance, tails


def minute_ics(ts: np.ndarray, fwd: np.ndarray, preds: dict[str, np.ndarray], min_names: int = 5) -> pl.DataFrame:
    """Per minute with ``min_names`` finite forward returns, in time order: the Spearman rank correlation of each
    of ``preds`` with the forward return (a column per name; NaN where a prediction is constant)."""
    df = pl.DataFrame({"ts": ts, "r": fwd, **preds}).filter(pl.col("r").is_finite())
    return (
        df.with_columns(pl.col(c).rank().over("ts").alias(f"rank_{c}") for c in ("r", *preds))
        .group_by("ts")
        .agg(*(pl.corr(f"rank_{c}", "rank_r").alias(c) for c in preds), pl.len().alias("n"))
        .filter(pl.col("n") >= min_names)
        .sort("ts")
    )


def ic_by_minute(ts: np.ndarray, p: np.ndarray, fwd: np.ndarray, min_names: int = 5) -> np.ndarray:
    """Spearman rank correlation of ``p`` with the forward return, one value per minute with enough names."""
    return minute_ics(ts, fwd, {"p": p}, min_names)["p"].drop_nans().drop_nulls().to_numpy()


def ic_edge(ts: np.ndarray, fwd: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, horizon: int) -> tuple[float, float]:
    """``(edge, t)``: model A's mean per-minute IC minus model B's, over the minutes both are scored on, and the t
    statistic of that paired difference. Consecutive minutes' ICs share ``horizon - 1`` minutes of forward return,
    so the standard error adds their autocovariances up to that lag (:func:`overlap_variance`); ignoring them would
    make noise look ~sqrt(horizon) times more significant. ``t`` is NaN with fewer than three minutes."""
    g = minute_ics(ts, fwd, {"a": p_a, "b": p_b}).filter(pl.col("a").is_not_nan() & pl.col("b").is_not_nan())
    d = (g["a"] - g["b"]).drop_nulls().to_numpy()
    if len(d) < 3:
        return (float(d.mean()) if len(d) else float("nan")), float("nan")
    se = np.sqrt((d.var(ddof=1) + overlap_variance(d, horizon)) / len(d))
    return float(d.mean()), float(d.mean() / se) if se > 0 else float("nan")


def precision_at_k(ts: np.ndarray, p: np.ndarray, y: np.ndarray, k: int) -> float:
    """Per minute with ``2k`` names, the share of the top-K by ``p`` labelled up and of the bottom-K labelled not
    up (names tied across a boundary count for their share of its places, :func:`modeling.backtest.tails`),
    pooled over the minutes; the two averaged."""
    df = pl.DataFrame({"ts": ts, "p": p, "y": y}).filter(pl.len().over("ts") >= 2 * k)
    if not len(df):
        return float("nan")
    top, bottom = tails(k)
    shares = (
        ((top * pl.col("y")).sum() / top.sum()).alias("up"),
        ((bottom * (1 - pl.col("y"))).sum() / bottom.sum()).alias("down"),
    )
    up, down = df.select(*shares).row(0)
    return float((up + down) / 2)


def calibration(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pl.DataFrame:
    """Per equal-count bin of ``p`` (ascending): the mean prediction ``p``, the share labelled up ``rate``, the
    count ``n``. Tied predictions fall in one bin, so bins holding ties differ in size."""
    df = pl.DataFrame({"p": np.asarray(p, np.float64), "y": np.asarray(y, np.float64)}).filter(pl.col("p").is_finite())
    if not len(df):
        return pl.DataFrame(schema={"p": pl.Float64, "rate": pl.Float64, "n": pl.UInt32})
    q = (pl.col("p").rank("min") - 1) * bins // pl.len()  # ties in one bin: no bin depends on the rows' order
    return df.group_by(q.alias("bin")).agg(pl.col("p").mean(), pl.col("y").mean().alias("rate"), pl.len().alias("n"))\
        .sort("bin").drop("bin")  # fmt: skip


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """The count-weighted mean gap between the predicted and the observed up rate over :func:`calibration`'s bins
    (NaN without predictions)."""
    c = calibration(y, p, bins)
    if not len(c):
        return float("nan")
    gap, n = (c["p"] - c["rate"]).abs().to_numpy(), c["n"].to_numpy()
    return float(gap @ n / n.sum())


def classification_metrics(ts: np.ndarray, y: np.ndarray, p: np.ndarray, fwd: np.ndarray, k: int = 10) -> dict:
    """Every metric the walk-forward reports, for one set of out-of-sample predictions."""
    p = np.clip(p, 1e-6, 1 - 1e-6)
    ics = ic_by_minute(ts, p, fwd)
    two = len(np.unique(y)) == 2
    return {
        "n_test": int(len(y)),
        "logloss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p, pos_label=1)),
        "ece": expected_calibration_error(y, p),
        "auc": float(roc_auc_score(y, p)) if two else float("nan"),
        "f1": float(f1_score(y, p > 0.5, zero_division=0)),
        "pr_auc": float(average_precision_score(y, p)) if two else float("nan"),
        "base_rate": float(np.mean(y)),
        "ic": float(np.mean(ics)) if len(ics) else float("nan"),
        "icir": float(np.mean(ics) / np.std(ics)) if len(ics) > 1 and np.std(ics) > 0 else float("nan"),
        "precision_at_k": precision_at_k(ts, p, y, k),
        "k": k,
    }

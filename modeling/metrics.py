"""Out-of-sample metrics: log-loss, ROC-AUC, F1, PR-AUC, IC/ICIR per minute, precision@K."""

import numpy as np
import polars as pl
from sklearn.metrics import average_precision_score, f1_score, log_loss, roc_auc_score

from modeling.backtest import overlap_variance


def _minute_ics(ts: np.ndarray, fwd: np.ndarray, preds: dict[str, np.ndarray], min_names: int = 5) -> pl.DataFrame:
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
    return _minute_ics(ts, fwd, {"p": p}, min_names)["p"].drop_nans().drop_nulls().to_numpy()


def ic_edge(ts: np.ndarray, fwd: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, horizon: int) -> tuple[float, float]:
    """``(edge, t)``: model A's mean per-minute IC minus model B's, over the minutes both are scored on, and the t
    statistic of that paired difference. Consecutive minutes' ICs share ``horizon - 1`` minutes of forward return,
    so the standard error adds their autocovariances up to that lag (:func:`overlap_variance`); ignoring them would
    make noise look ~sqrt(horizon) times more significant. ``t`` is NaN with fewer than three minutes."""
    g = _minute_ics(ts, fwd, {"a": p_a, "b": p_b}).filter(pl.col("a").is_not_nan() & pl.col("b").is_not_nan())
    d = (g["a"] - g["b"]).drop_nulls().to_numpy()
    if len(d) < 3:
        return (float(d.mean()) if len(d) else float("nan")), float("nan")
    se = np.sqrt((d.var(ddof=1) + overlap_variance(d, horizon)) / len(d))
    return float(d.mean()), float(d.mean() / se) if se > 0 else float("nan")


def precision_at_k(ts: np.ndarray, p: np.ndarray, y: np.ndarray, k: int) -> float:
    """Per minute, the share of the top-K by ``p`` labelled up and of the bottom-K labelled not up; averaged."""
    df = pl.DataFrame({"ts": ts, "p": p, "y": y})
    ranked = df.with_columns(
        pl.col("p").rank("ordinal", descending=True).over("ts").alias("top"),
        pl.col("p").rank("ordinal").over("ts").alias("bot"),
        pl.len().over("ts").alias("n"),
    )
    ranked = ranked.filter(pl.col("n") >= 2 * k)
    top_rows = ranked.filter(pl.col("top") <= k)["y"].to_numpy()
    bot_rows = ranked.filter(pl.col("bot") <= k)["y"].to_numpy()
    if not len(top_rows) or not len(bot_rows):
        return float("nan")
    return float((top_rows.mean() + (1 - bot_rows.mean())) / 2)


def classification_metrics(ts: np.ndarray, y: np.ndarray, p: np.ndarray, fwd: np.ndarray, k: int = 10) -> dict:
    """Every metric the walk-forward reports, for one set of out-of-sample predictions."""
    p = np.clip(p, 1e-6, 1 - 1e-6)
    ics = ic_by_minute(ts, p, fwd)
    two = len(np.unique(y)) == 2
    return {
        "n_test": int(len(y)),
        "logloss": float(log_loss(y, p, labels=[0, 1])),
        "auc": float(roc_auc_score(y, p)) if two else float("nan"),
        "f1": float(f1_score(y, p > 0.5, zero_division=0)),
        "pr_auc": float(average_precision_score(y, p)) if two else float("nan"),
        "base_rate": float(np.mean(y)),
        "ic": float(np.mean(ics)) if len(ics) else float("nan"),
        "icir": float(np.mean(ics) / np.std(ics)) if len(ics) > 1 and np.std(ics) > 0 else float("nan"),
        "precision_at_k": precision_at_k(ts, p, y, k),
        "k": k,
    }

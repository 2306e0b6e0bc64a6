"""Walk-forward evaluation: features, labels, purged walk-forward folds, OOS predictions, metrics, backtest."""

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from features.engine import FFD_D, FeatureEngine
from features.io import BarDays
from features.kernels.ffd import d_problem
from modeling.backtest import backtest, plot_equity
from modeling.cv import random_kfold, walk_forward
from modeling.dataset import build_by_session
from modeling.diagnostics import plot_diagnostics
from modeling.labels import LabelConfig
from modeling.metrics import classification_metrics
from modeling.train import Dataset, fit_lgbm, fit_logistic, importance, predict_logistic

log = logging.getLogger(__name__)
M = 60_000_000_000


BACKTEST_METRICS = (
    "sharpe",
    "sharpe_gross",
    "max_drawdown",
    "turnover",
    "dsr",
    "hit_rate",
    "cost_share",
    "unpriced_share",
    "overlap_factor",
    "edge_bps",
    "cost_bps",
)


@dataclass
class WalkForwardConfig:
    horizon: int = 5
    folds: int = 4
    trials: int = 0
    embargo_minutes: int = 5
    k: int = 10
    fee_bps: float = 0.5
    model: str = "lgbm"  # or "logistic"
    split: str = "walk_forward"  # "random_kfold" only for the leakage control
    label_price: str = "close"  # or "mid": labels on the NBBO mid (no bid-ask bounce); the backtest trades the mid
    # whenever the bars carry quotes, either way (modeling.labels.forward_returns)
    ffd_d: float = FFD_D  # FFD's differencing order (the feature ffd_<100 d>)
    max_spread_bps: float | None = None  # the backtest's liquidity screen: enter names quoting a half spread <= this
    storage: str | None = None

    def __post_init__(self) -> None:
        """Refuse a config that would evaluate nothing or something else than it says, naming the field."""
        floors = {"horizon": 1, "folds": 1, "trials": 0, "embargo_minutes": 0, "k": 1, "fee_bps": 0}
        for name, least in floors.items():
            if not getattr(self, name) >= least:  # also refuses NaN
                raise ValueError(f"WalkForwardConfig.{name} must be at least {least}, got {getattr(self, name)}")
        if self.max_spread_bps is not None and not self.max_spread_bps > 0:
            raise ValueError(
                f"WalkForwardConfig.max_spread_bps must be > 0 (or None: no screen), got {self.max_spread_bps}"
            )
        if problem := d_problem(self.ffd_d):
            raise ValueError(f"WalkForwardConfig.ffd_d {problem}")
        for name, allowed in (("model", ("lgbm", "logistic")), ("split", ("walk_forward", "random_kfold"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"WalkForwardConfig.{name} must be one of {allowed}, got {getattr(self, name)!r}")


@dataclass
class WalkForwardResult:
    metrics: dict
    predictions: pa.Table
    importance: list[tuple[str, float]]
    baseline: dict
    best_params: dict
    oos: dict = field(default_factory=dict)  # ts, y, fwd and each model's predictions, for the diagnostics


def evaluate(d: Dataset, cfg: WalkForwardConfig, progress: Callable[[str], None] = log.info) -> WalkForwardResult:
    emb, hz = cfg.embargo_minutes * M, cfg.horizon * M
    params: dict = {}
    n_trials = 1
    if cfg.split == "random_kfold":
        splits = list(random_kfold(len(d.y), cfg.folds))
    else:
        splits = list(walk_forward(d.ts, d.t1, cfg.folds, emb, hz))
    if cfg.trials > 0 and cfg.model == "lgbm":
        from modeling.hpo import sweep

        first_train = d.take(splits[0].train)
        progress(f"sweep: {cfg.trials} Optuna trials on Ray over the first training window")
        res = sweep(first_train, cfg.trials, emb, hz, storage=cfg.storage)
        params, n_trials = res.best_params, res.n_trials
    p = np.full(len(d.y), np.nan)
    p_base = np.full(len(d.y), np.nan)
    imp: dict[str, float] = {}
    for i, s in enumerate(splits):
        tr = d.take(s.train)
        progress(f"fold {i + 1}/{len(splits)}: train {len(s.train):,} rows, test {len(s.test):,}")
        base = fit_logistic(tr)
        p_base[s.test] = predict_logistic(base, d.X[s.test])
        if cfg.model == "lgbm":
            model = fit_lgbm(tr, params, gap_ns=hz)
            p[s.test] = model.predict(d.X[s.test])
            for name, g in importance(model):
                imp[name] = imp.get(name, 0.0) + g / len(splits)
        else:
            p[s.test] = p_base[s.test]
    tested = ~np.isnan(p)
    ts, y, fwd = d.ts[tested], d.y[tested], d.extra["fwd"][tested]
    metrics = classification_metrics(ts, y, p[tested], fwd, cfg.k)
    baseline = classification_metrics(ts, y, p_base[tested], fwd, cfg.k)
    bt = backtest(
        ts,
        d.extra["symbol"][tested],
        p[tested],
        fwd,
        d.extra["half_spread"][tested],
        None,
        cfg.k,
        cfg.horizon,
        cfg.fee_bps,
        n_trials,
        max_half_spread=None if cfg.max_spread_bps is None else cfg.max_spread_bps * 1e-4,
    )
    metrics.update({k: bt.metrics[k] for k in BACKTEST_METRICS})
    metrics.update(
        {
            "n_trials": n_trials,
            "folds": len(splits),
            "horizon": cfg.horizon,
            "split": cfg.split,
            "baseline_logloss": baseline["logloss"],
            "baseline_auc": baseline["auc"],
            "baseline_ic": baseline["ic"],
            "baseline_ece": baseline["ece"],
            # events with a quoted spread: the backtest charges the others only the fee (decision 023)
            "quoted_share": float(np.isfinite(d.extra["half_spread"][tested]).mean()) if tested.any() else 0.0,
        }
    )
    preds = pa.table(
        {
            "symbol": pa.array(d.extra["symbol"][tested].tolist(), pa.string()),
            "ts": pa.array(ts, pa.int64()).cast(pa.timestamp("ns", tz="UTC")),
            "p_up": pa.array(p[tested].astype(np.float32)),
            "label": pa.array(y, pa.int8()),
        }
    )
    result = WalkForwardResult(metrics, preds, sorted(imp.items(), key=lambda kv: -kv[1]), baseline, params)
    result.backtest = bt  # type: ignore[attr-defined]
    scored = (
        {"LightGBM": p[tested], "logistic baseline": p_base[tested]} if cfg.model == "lgbm" else {"logistic": p[tested]}
    )
    result.oos = {"ts": ts, "y": y, "fwd": fwd, "preds": scored}
    return result


def plot_oos(res: WalkForwardResult, path: str, title: str = "walk-forward out of sample") -> str:
    """:func:`modeling.diagnostics.plot_diagnostics` of a walk-forward's predictions, the model's and the
    baseline's: reliability and IC session by session."""
    o = res.oos
    return plot_diagnostics(o["ts"], o["y"], o["fwd"], o["preds"], path, title)


def run(
    bars: pa.Table | BarDays,
    reference: pa.Table | None,
    actions: pa.Table | None,
    out: str,
    cfg: WalkForwardConfig,
    progress: Callable[[str], None] = log.info,
) -> WalkForwardResult:
    """The whole walk-forward on bars in the contract; writes metrics.json, predictions.parquet, backtest.png and
    diagnostics.png (reliability, IC per session).

    The training set is built a session at a time (``build_by_session``): given :class:`BarDays` over a lake, only
    one session's bars and features are held beside the float32 matrix."""
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    engine = FeatureEngine(reference, actions, ffd_d=cfg.ffd_d)
    days = bars if isinstance(bars, BarDays) else BarDays.of(bars)
    done = [0, 0]

    def session_done(rows: int) -> None:
        done[0], done[1] = done[0] + 1, done[1] + rows
        progress(f"features + labels: session {done[0]}/{len(days.days)} ({done[1]:,} bars)")

    d = build_by_session(
        (days.read(x) for x in days.days), engine, LabelConfig(horizon=cfg.horizon, price=cfg.label_price), session_done
    )
    progress(f"dataset: {len(d.y):,} events x {len(d.names)} features (float32, {d.X.nbytes / 1e6:.0f} MB)")
    res = evaluate(d, cfg, progress)
    res.metrics["feature_set_version"] = engine.version
    res.metrics["seconds"] = round(time.perf_counter() - t0, 1)
    o = Path(out)
    o.mkdir(parents=True, exist_ok=True)
    (o / "metrics.json").write_text(
        json.dumps(
            {**res.metrics, "config": asdict(cfg), "importance_top10": res.importance[:10]}, indent=2, default=float
        )
    )
    pq.write_table(res.predictions, o / "predictions.parquet")
    plot_equity(res.backtest, str(o / "backtest.png"))  # type: ignore[attr-defined]
    plot_oos(res, str(o / "diagnostics.png"))
    return res

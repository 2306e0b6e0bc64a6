"""The Optuna sweep on Ray: pruned trials stop getting folds (compute is saved), and the study counts every trial."""

import numpy as np
import optuna
import pytest

from modeling.hpo import sweep
from modeling.train import Dataset

pytestmark = pytest.mark.slow
M = 60_000_000_000


def _data(n: int = 6000, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    y = (X[:, 0] + rng.normal(0, 1.5, n) > 0).astype(np.int8)
    ts = np.arange(n, dtype=np.int64) * M
    return Dataset(X, y, np.ones(n), ts, ts + 5 * M, [f"f{i}" for i in range(6)], {})


def test_pruned_trials_get_no_further_folds(tmp_path):
    storage = f"sqlite:///{tmp_path}/study.db"
    r = sweep(_data(), 10, 5 * M, 5 * M, storage=storage, study_name="t", n_splits=3, parallel=2)
    study = optuna.load_study(study_name="t", storage=storage)
    states = [t.state for t in study.trials]
    assert r.n_trials == 10 == len(states)
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert r.pruned == len(pruned)
    # every pruned trial stopped early, and the folds it skipped were never run
    assert all(len(t.intermediate_values) < 3 for t in pruned)
    assert r.folds_budget == 30
    assert r.folds_run == sum(len(t.intermediate_values) for t in study.trials)
    if pruned:
        assert r.folds_run < r.folds_budget
    assert np.isfinite(r.best_logloss) and r.best_params

"""The IC edge of one model over another, and whether one holdout can tell it from noise."""

import numpy as np
import pytest

from modeling.metrics import ic_by_minute, ic_edge

N_MIN, N_SYM, H = 2_000, 40, 5


def _holdout(seed: int, skill: float) -> tuple[np.ndarray, ...]:
    """Minutes x symbols of H-minute forward returns made of 1-minute returns (so consecutive minutes overlap), a
    model with ``skill`` on the first minute of each window and a model with none."""
    rng = np.random.default_rng(seed)
    r1 = rng.standard_normal((N_MIN + H, N_SYM))
    fwd = np.stack([r1[t : t + H].sum(axis=0) for t in range(N_MIN)])
    good = skill * r1[:N_MIN] + rng.standard_normal((N_MIN, N_SYM))
    noise = rng.standard_normal((N_MIN, N_SYM))
    ts = np.repeat(np.arange(N_MIN, dtype=np.int64) * 60_000_000_000, N_SYM)
    return ts, fwd.ravel(), good.ravel(), noise.ravel()


def test_a_real_edge_stands_out_and_equals_the_difference_of_the_mean_ics():
    ts, fwd, good, noise = _holdout(1, 0.3)
    edge, t = ic_edge(ts, fwd, good, noise, H)
    assert edge == pytest.approx(ic_by_minute(ts, good, fwd).mean() - ic_by_minute(ts, noise, fwd).mean(), abs=1e-12)
    assert edge > 0.05 and t > 5, (edge, t)


def test_two_models_without_skill_are_noise_once_the_overlap_is_counted():
    """Two skill-free models whose predictions persist for H minutes, as a model's do when its features move
    slowly: their per-minute IC differences are correlated over H minutes. Over many holdouts the t statistic must
    look like a standard normal; ignoring the overlap, its spread is ~sqrt(H) too wide."""
    ts_all = []
    for seed in range(40):
        rng = np.random.default_rng(100 + seed)
        r1 = rng.standard_normal((N_MIN + H, N_SYM))
        fwd = np.stack([r1[t : t + H].sum(axis=0) for t in range(N_MIN)]).ravel()
        slow = [np.repeat(rng.standard_normal((N_MIN // H, N_SYM)), H, axis=0).ravel() for _ in range(2)]
        ts = np.repeat(np.arange(N_MIN, dtype=np.int64) * 60_000_000_000, N_SYM)
        ts_all.append(ic_edge(ts, fwd, slow[0], slow[1], H)[1])
    assert 0.6 < np.std(ts_all) < 1.5, np.std(ts_all)

"""Calibration and IC per session against independent computations written here."""

import numpy as np
import pytest

from modeling.diagnostics import ic_by_session, plot_diagnostics
from modeling.metrics import calibration, classification_metrics, expected_calibration_error

M, DAY = 60_000_000_000, 86_400_000_000_000
T0 = 1_772_461_800_000_000_000  # 2026-03-02 14:30 UTC


def _ece_by_hand(y: np.ndarray, p: np.ndarray, bins: int) -> float:
    order = np.argsort(p, kind="stable")
    parts = np.array_split(order, bins)  # equal-count bins (sizes differ by at most one, as the ranks' split does)
    return sum(len(b) * abs(p[b].mean() - y[b].mean()) for b in parts) / len(p)


@pytest.mark.parametrize("stretch", [1.0, 2.0, 0.3])
def test_ece_matches_a_by_hand_computation_and_sees_overconfidence(stretch):
    rng = np.random.default_rng(4)
    truth = rng.uniform(0.35, 0.65, 50_000)
    y = (rng.random(len(truth)) < truth).astype(np.int8)
    p = 0.5 + stretch * (truth - 0.5)  # 1: calibrated; 2: overconfident; 0.3: underconfident
    c = calibration(y, p, 10)
    assert c["n"].to_list() == [5_000] * 10 and np.all(np.diff(c["p"].to_numpy()) > 0)
    ece = expected_calibration_error(y, p, 10)
    assert ece == pytest.approx(_ece_by_hand(y, p, 10), rel=1e-9)
    assert (ece < 0.01) if stretch == 1.0 else (ece > 0.03)
    assert classification_metrics(np.zeros(len(y)), y, p, np.zeros(len(y)))["ece"] == pytest.approx(ece, rel=1e-6)


def test_ic_by_session_weighs_each_session_and_all_minutes_as_the_walkforward_does():
    rng = np.random.default_rng(5)
    rows, names = [], 20
    for day, minutes, sign in ((0, 30, 1.0), (1, 10, -1.0)):  # day one: p ranks like the return; day two: reversed
        for m in range(minutes):
            fwd = rng.normal(size=names)
            rows.append((np.full(names, T0 + day * DAY + m * M), fwd, 0.5 + 0.1 * sign * np.tanh(fwd)))
    ts, fwd, p = (np.concatenate(c) for c in zip(*rows, strict=True))
    s, overall = ic_by_session(ts, fwd, {"model": p})
    assert s["model"].to_list() == pytest.approx([1.0, -1.0]) and s["minutes"].to_list() == [30, 10]
    assert [str(d) for d in s["day"]] == ["2026-03-02", "2026-03-03"]
    assert overall["model"] == pytest.approx(0.5)  # (30 - 10) / 40: the minutes' mean, not the sessions'
    y = (fwd > 0).astype(np.int8)
    assert classification_metrics(ts, y, p, fwd)["ic"] == pytest.approx(overall["model"])


def test_the_plot_is_written(tmp_path):
    rng = np.random.default_rng(6)
    ts = np.repeat(T0 + np.arange(300) * M, 20)
    fwd = rng.normal(size=len(ts))
    y = (fwd > 0).astype(np.int8)
    preds = {"model": 0.5 + 0.1 * np.tanh(fwd + rng.normal(size=len(ts))), "baseline": rng.uniform(0.4, 0.6, len(ts))}
    path = plot_diagnostics(ts, y, fwd, preds, str(tmp_path / "d.png"))
    assert (tmp_path / "d.png").stat().st_size > 20_000 and path.endswith("d.png")


def test_tied_predictions_fall_in_one_bin_whatever_the_rows_order():
    """Few distinct outputs (a small LightGBM): a tie group split across bins by row order would move the ECE."""
    rng = np.random.default_rng(8)
    p = np.round(rng.uniform(0.4, 0.6, 30_000), 2)
    y = (rng.random(len(p)) < p).astype(np.int8)
    perm = rng.permutation(len(p))
    assert expected_calibration_error(y[perm], p[perm]) == pytest.approx(expected_calibration_error(y, p), rel=1e-12)


def test_a_universe_too_small_to_rank_still_gets_its_plot(tmp_path):
    """Two names a minute: no minute has an IC (it needs 5), so the overall IC is missing; the plot says so instead
    of failing the walk-forward after its work was done (it did, on two real one-minute series)."""
    rng = np.random.default_rng(8)
    ts = np.repeat(T0 + np.arange(300) * M, 2)
    fwd = rng.normal(size=len(ts))
    preds = {"model": rng.uniform(0.4, 0.6, len(ts))}
    assert ic_by_session(ts, fwd, preds)[1]["model"] is None
    plot_diagnostics(ts, (fwd > 0).astype(np.int8), fwd, preds, str(tmp_path / "d.png"))
    assert (tmp_path / "d.png").stat().st_size > 10_000


def test_a_feature_the_data_cannot_give_is_imputed_silently():
    """A column without a finite value in the fold (the spread of bars without quotes) is imputed with 0, not a
    NaN mean and a RuntimeWarning per fold; the other columns' means are their finite values' means."""
    import warnings

    from modeling.train import _column_means

    X = np.array([[1.0, np.nan, 2.0], [3.0, np.nan, np.nan]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _column_means(X).tolist() == [2.0, 0.0, 2.0]

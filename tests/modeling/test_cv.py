"""No training row's [ts, t1] overlaps a test row's [ts, t1] or the embargo after a test block."""

import numpy as np
import pytest

from modeling.cv import cpcv, purged_kfold, random_kfold, walk_forward

M = 60_000_000_000


def random_events(seed: int, n: int = 3000):
    rng = np.random.default_rng(seed)
    ts = np.sort(rng.integers(0, 2000, n)) * M
    t1 = ts + rng.integers(1, 30, n) * M
    return ts, t1


def assert_clean(ts, t1, split, embargo):
    tr, te = split.train, split.test
    assert len(np.intersect1d(tr, te)) == 0
    for i in te:  # brute force over every test row
        overlap = (ts[tr] <= t1[i]) & (t1[tr] >= ts[i])
        assert not overlap.any(), "a training span overlaps a test span"
    # embargo after each contiguous test run
    order = np.argsort(ts[te])
    tt, tend = ts[te][order], t1[te][order]
    ends = np.maximum.accumulate(tend)
    run_break = np.r_[tt[1:] > ends[:-1], True]
    for e in ends[run_break]:
        assert not ((ts[tr] > e) & (ts[tr] <= e + embargo)).any(), "a training row starts inside the embargo"


@pytest.mark.parametrize("seed", range(5))
def test_purged_kfold_and_cpcv_never_leak(seed):
    ts, t1 = random_events(seed)
    emb = 10 * M
    splits = list(purged_kfold(ts, t1, 5, emb)) + list(cpcv(ts, t1, 6, 2, emb))
    assert len(splits) == 5 + 15
    for s in splits:
        assert_clean(ts, t1, s, emb)
        assert len(s.train) > 0.2 * len(ts)


@pytest.mark.parametrize("expanding", [True, False])
def test_walk_forward_trains_on_the_past_with_a_gap(expanding):
    ts, t1 = random_events(9)
    for s in walk_forward(ts, t1, n_folds=4, embargo_ns=5 * M, horizon_ns=30 * M, expanding=expanding):
        assert_clean(ts, t1, s, 5 * M)
        assert t1[s.train].max() < ts[s.test].min()
        assert ts[s.test].min() - ts[s.train].max() >= 35 * M


def test_random_kfold_does_leak():
    """The control the integrity tests use: the check above fails on it."""
    ts, t1 = random_events(1)
    s = next(random_kfold(len(ts)))
    with pytest.raises(AssertionError, match="overlaps"):
        assert_clean(ts, t1, s, 0)


def test_split_membership_ignores_the_future():
    """Poisoning for splits: changing events after t does not move rows at or before t between train and test
    in walk-forward folds whose test block starts before t."""
    ts, t1 = random_events(3)
    cut = ts[len(ts) // 2]
    ts2, t12 = ts.copy(), t1.copy()
    after = ts > cut
    t12[after] = ts2[after] + 29 * M  # different future label spans
    a = list(walk_forward(ts, t1, 4, 5 * M, 30 * M))
    b = list(walk_forward(ts2, t12, 4, 5 * M, 30 * M))
    for sa, sb in zip(a, b, strict=True):
        if ts[sa.test].min() > cut:
            continue
        np.testing.assert_array_equal(sa.train[ts[sa.train] <= cut], sb.train[ts2[sb.train] <= cut])

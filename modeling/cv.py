"""Validation splits that cannot leak: every split is purged and embargoed.

Rows are label events with a span ``[ts, t1]``. Test folds are contiguous blocks of time (all symbols at a
minute fall in the same block). A training row is removed when its span overlaps the span of any test row
(purging), or when it starts inside the embargo after a test block. Purging is global across symbols:
cross-sectional correlation is a leak too. Walk-forward keeps a gap of at least horizon + embargo.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations

import numpy as np


@dataclass(frozen=True)
class Split:
    train: np.ndarray  # row indices
    test: np.ndarray


def _blocks(ts: np.ndarray, n_blocks: int) -> list[np.ndarray]:
    """Row indices of ``n_blocks`` contiguous time blocks with (nearly) equal numbers of distinct minutes."""
    minutes = np.unique(ts)
    if len(minutes) < n_blocks:
        raise ValueError(f"{len(minutes)} distinct times cannot make {n_blocks} folds")
    edges = minutes[np.linspace(0, len(minutes), n_blocks + 1).astype(int)[1:-1]]
    which = np.searchsorted(edges, ts, side="right")
    return [np.flatnonzero(which == b) for b in range(n_blocks)]


def purge(train: np.ndarray, ts: np.ndarray, t1: np.ndarray, test: np.ndarray, embargo_ns: int) -> np.ndarray:
    """Drop training rows whose [ts, t1] overlaps a test block's span or starts within the embargo after it.

    Test rows are grouped into contiguous runs so a test set made of several blocks (CPCV) is purged per block.
    """
    if len(test) == 0 or len(train) == 0:
        return train
    order = np.argsort(ts[test], kind="stable")
    tt, te = ts[test][order], t1[test][order]
    # runs of test rows that touch each other in time
    run_end = np.maximum.accumulate(te)
    new_run = np.r_[True, tt[1:] > run_end[:-1]]
    starts = np.flatnonzero(new_run)
    a = tt[starts]
    b = np.maximum.reduceat(te, starts)
    keep = np.ones(len(train), bool)
    s, e = ts[train], t1[train]
    for lo, hi in zip(a, b, strict=True):
        keep &= ~((s <= hi) & (e >= lo))  # overlap with the block's span
        keep &= ~((s > hi) & (s <= hi + embargo_ns))  # embargo after the block
    return train[keep]


def purged_kfold(ts: np.ndarray, t1: np.ndarray, n_splits: int = 5, embargo_ns: int = 0) -> Iterator[Split]:
    """k contiguous test blocks; the rest, purged and embargoed, trains."""
    blocks = _blocks(ts, n_splits)
    all_rows = np.arange(len(ts))
    for test in blocks:
        train = np.setdiff1d(all_rows, test, assume_unique=True)
        yield Split(purge(train, ts, t1, test, embargo_ns), test)


def walk_forward(
    ts: np.ndarray,
    t1: np.ndarray,
    n_folds: int = 4,
    embargo_ns: int = 0,
    horizon_ns: int = 0,
    expanding: bool = True,
    min_train_blocks: int = 1,
) -> Iterator[Split]:
    """Train on the past only: test block k trains on blocks < k (all of them, or the last ``min_train_blocks``
    when rolling), ending at least ``horizon + embargo`` before the test starts, and purged."""
    blocks = _blocks(ts, n_folds + min_train_blocks)
    gap = horizon_ns + embargo_ns
    for k in range(min_train_blocks, len(blocks)):
        test = blocks[k]
        first = 0 if expanding else k - min_train_blocks
        train = np.concatenate(blocks[first:k])
        start = ts[test].min()
        train = train[(t1[train] < start) & (ts[train] <= start - gap)]
        yield Split(purge(train, ts, t1, test, embargo_ns), test)


def cpcv(ts: np.ndarray, t1: np.ndarray, n_groups: int = 6, n_test: int = 2, embargo_ns: int = 0) -> Iterator[Split]:
    """Combinatorial purged CV: every choice of ``n_test`` of ``n_groups`` blocks is a test set."""
    blocks = _blocks(ts, n_groups)
    all_rows = np.arange(len(ts))
    for combo in combinations(range(n_groups), n_test):
        test = np.concatenate([blocks[i] for i in combo])
        train = np.setdiff1d(all_rows, test)
        yield Split(purge(train, ts, t1, np.sort(test), embargo_ns), np.sort(test))


def random_kfold(n: int, n_splits: int = 5, seed: int = 0) -> Iterator[Split]:
    """Shuffled k-fold with NO purging: the leaky control that integrity tests use to show inflation."""
    perm = np.random.default_rng(seed).permutation(n)
    for f in np.array_split(perm, n_splits):
        yield Split(np.setdiff1d(perm, f), np.sort(f))

"""Fractionally differentiated log price (fixed-width window FFD, Lopez de Prado ch. 5).

Computed on the session-minute grid: a minute without a bar repeats the symbol's last log price, so the window
is a fixed span of time for every symbol and the whole cross-section is one matrix-vector product per minute.
"""

from collections.abc import Iterable

import numpy as np

from features.spec import FeatureSpec, Kernel, State, StepInput


def ffd_weights(d: float, threshold: float = 1e-4) -> np.ndarray:
    """FFD weights ``w_0 = 1, w_k = -w_{k-1} (d - k + 1) / k`` until ``|w_k| < threshold``.

    >>> ffd_weights(0.5, 0.1).round(4).tolist()
    [1.0, -0.5, -0.125]
    """
    w = [1.0]
    k = 1
    while True:
        nxt = -w[-1] * (d - k + 1) / k
        if abs(nxt) < threshold:
            return np.array(w)
        w.append(nxt)
        k += 1


D_GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)


def d_problem(d: float) -> str | None:
    """What is wrong with ``d`` as FFD's order, worded to follow the name of whatever holds it; None if nothing.

    >>> d_problem(0.35), d_problem(0.333)
    (None, 'must have at most two decimals (its feature is ffd_<100 d>), got 0.333')
    """
    if not 0 < d <= 2:  # also refuses NaN
        return f"must be in (0, 2], got {d!r}"
    if abs(round(d * 100) - d * 100) > 1e-9:
        return f"must have at most two decimals (its feature is ffd_<100 d>), got {d!r}"
    return None


def choose_d(
    log_price: np.ndarray,
    grid: tuple[float, ...] = D_GRID,
    pvalue: float = 0.05,
    threshold: float = 1e-4,
) -> float:
    """The smallest ``d`` of ``grid`` whose FFD series passes an ADF test at ``pvalue`` (use training data only):
    the least differencing that makes the series stationary, so the most memory kept. A ``d`` whose window does
    not fit twice in the series (plus 20) cannot be tested and is skipped; ValueError if none can be. The last
    ``d`` of the grid when none passes (``d = 1`` is the first difference).

    >>> rng = np.random.default_rng(3)
    >>> walk = np.log(50) + np.cumsum(rng.normal(0, 0.001, 5000))
    >>> choose_d(walk), choose_d(walk[:300])
    (0.1, 0.6)
    """
    from statsmodels.tsa.stattools import adfuller

    tested = False
    for d in grid:
        w = ffd_weights(d, threshold)
        if len(log_price) < 2 * len(w) + 20:
            continue
        tested = True
        series = np.convolve(log_price, w, mode="valid")
        if adfuller(series, maxlag=1, regression="c", autolag=None, result_object=False)[1] < pvalue:
            return d
    if not tested:
        shortest = min(2 * len(ffd_weights(d, threshold)) + 20 for d in grid)
        raise ValueError(f"choose_d needs at least {shortest} log prices to test any d of {grid}, got {len(log_price)}")
    return grid[-1]


def choose_d_across(
    log_prices: Iterable[np.ndarray], share: float = 0.9, grid: tuple[float, ...] = D_GRID
) -> tuple[float | None, list[float | None]]:
    """One ``d`` for a cross-section: each series' :func:`choose_d` (None where a series is too short to test),
    and the smallest ``d`` of ``grid`` at or above the choice of at least ``share`` of the tested series (None if
    none could be tested). FFD uses one ``d`` for every symbol, so the few that need more differencing than it
    gives stay a little non-stationary.

    >>> rng = np.random.default_rng(3)
    >>> walks = [np.log(50) + np.cumsum(rng.normal(0, 0.001, 3000)) for _ in range(4)]
    >>> choose_d_across([*walks, walks[0][:10]], share=0.75)
    (0.2, [0.2, 0.1, 0.1, 0.2, None])
    >>> choose_d_across([*walks, walks[0][:10]], share=0.5)[0]
    0.1
    """
    picks: list[float | None] = []
    for lp in log_prices:
        try:
            picks.append(choose_d(lp, grid))
        except ValueError:  # too short to test any d: not counted either way
            picks.append(None)
    tested = np.array([p for p in picks if p is not None])
    if not len(tested):
        return None, picks
    return next(d for d in grid if np.mean(tested <= d + 1e-12) >= share - 1e-12), picks


class FFD(Kernel):
    """``ffd_<d>`` = sum_k w_k * log price_{t-k} over the minute grid (NaN until the window is full).

    >>> from features.kernels.testing import run_one
    >>> [r["ffd_50"] for r in run_one(FFD(0.5, 0.1), [10, 11, 12])]
    [nan, nan, 0.9981]
    """

    name = "ffd"

    def __init__(self, d: float = 0.4, threshold: float = 1e-4):
        if problem := d_problem(d):
            raise ValueError(f"FFD d {problem}")
        self.d, self.threshold = d, threshold
        self.w = ffd_weights(d, threshold)

    def params(self) -> dict:
        return {"d": self.d, "threshold": self.threshold}

    def outputs(self) -> list[FeatureSpec]:
        return [FeatureSpec(f"ffd_{round(self.d * 100)}", self.name, len(self.w), -50.0, 50.0)]

    def init(self, n: int) -> State:
        k = len(self.w)
        return {
            # a doubled ring: slot s is written at s and s + k, so any window is contiguous; column-major, so a
            # symbol's ring is contiguous (the compiled step reads it symbol by symbol)
            "buf": np.zeros((2 * k, n), order="F"),
            "seen": np.zeros(n, np.int64),
            "last": np.full(n, np.nan),
            "_ptr": np.zeros((), np.int64),
            # the compiled engine's partial sums of the next window but its newest position, summed between
            # minutes (features.fused.ffd.ffd_prepare), for the push at slot _pre_ptr (-1: none; anything that
            # moves the rings resets it)
            "_pre": np.zeros((8, 0), order="F"),
            "_pre_ptr": np.full((), -1, np.int64),
        }

    def rescale(self, st: State, idx: np.ndarray, price_factor: np.ndarray, split_ratio: np.ndarray) -> None:
        lf = np.log(price_factor)
        st["buf"][:, idx] += lf
        st["last"][idx] += lf
        st["_pre_ptr"][...] = -1

    def step(self, st: State, x: StepInput) -> dict[str, np.ndarray]:
        k = len(self.w)
        lp = np.where(x.upd, np.log(x.close), st["last"])
        st["last"][:] = lp
        known = ~np.isnan(lp)
        ptr = int(st["_ptr"])
        st["buf"][ptr] = st["buf"][ptr + k] = np.where(known, lp, 0.0)
        st["seen"][known] += 1
        st["_ptr"][...] = (ptr + 1) % k
        st["_pre_ptr"][...] = -1
        # row r holds the value written (ptr - r) % k minutes ago: roll the weights, not the data
        w_rolled = np.empty(k)
        w_rolled[(ptr - np.arange(k)) % k] = self.w
        v = w_rolled @ st["buf"][:k]
        return {f"ffd_{round(self.d * 100)}": np.where(st["seen"] >= k, v, np.nan)}

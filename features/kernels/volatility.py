"""Volatility: Bollinger %b and width, ATR normalized by price, EWM realized volatility of 1-bar returns."""

import numpy as np

from features.spec import FeatureSpec, Kernel, Ring, State, StepInput, commit, ewm_alpha

# Bollinger's band counts as zero below this fraction of the mean: a flat window's deviation is rounding noise
# (20 x 10.1 sums to a mean 1 ulp off, a "band" of 1e-15), and %b would be that noise over itself (0.25, 0.75)
FLAT_BAND = 1e-12


class Bollinger(Kernel):
    """Bollinger bands (window, k): %b = (close - lower) / (upper - lower), width = (upper - lower) / middle.

    Population standard deviation over the window, as TA-Lib's BBANDS; a flat window (a band below ``FLAT_BAND`` of
    the mean: rounding noise) has %b 0.5.

    >>> from features.kernels.testing import run_one
    >>> [(r["bb_pctb_3"], r["bb_width_3"]) for r in run_one(Bollinger(3, 2.0), [10, 11, 12, 10])][2:]
    [(0.8062, 0.2969), (0.1938, 0.2969)]
    """

    name = "bollinger"
    price_state = ("buf",)

    def __init__(self, window: int = 20, k: float = 2.0):
        self.window, self.k = window, k

    def params(self) -> dict:
        return {"window": self.window, "k": self.k}

    def outputs(self) -> list[FeatureSpec]:
        w = self.window
        return [
            FeatureSpec(f"bb_pctb_{w}", self.name, w, -5.0, 6.0),
            FeatureSpec(f"bb_width_{w}", self.name, w, 0.0, 5.0),
        ]

    def init(self, n: int) -> State:
        st: State = {}
        Ring.init(st, "buf", n, self.window)
        # the compiled kernel's running window sums (features.fused.rolling.bands_push): valid for push count
        # ``sums[5]``; none yet, and this kernel re-sums the ring itself and leaves them behind
        st["sums"] = np.zeros((6, n), order="F")
        st["sums"][5] = -1
        return st

    def rescale(self, st: State, idx: np.ndarray, price_factor: np.ndarray, split_ratio: np.ndarray) -> None:
        super().rescale(st, idx, price_factor, split_ratio)
        st["sums"][5, idx] = -1  # the ring changed: the running sums no longer hold

    def step(self, st: State, x: StepInput) -> dict[str, np.ndarray]:
        w = self.window
        Ring.push(st, "buf", x.close, x.upd)
        buf = st["buf"]
        mid = buf.mean(axis=0)
        sd = buf.std(axis=0)
        band = self.k * sd
        with np.errstate(divide="ignore", invalid="ignore"):
            pctb = np.where(band > FLAT_BAND * np.abs(mid), (x.close - (mid - band)) / (2 * band), 0.5)
        return {f"bb_pctb_{w}": pctb, f"bb_width_{w}": 2 * band / mid}


class ATR(Kernel):
    """Average true range (Wilder) divided by the close; the true range uses the gap-free previous close.

    >>> from features.kernels.testing import run_one
    >>> [r["atr_3"] for r in run_one(ATR(3), [10, 11, 10.5, 12])]
    [0.01, 0.0545, 0.0571, 0.0778]
    """

    name = "atr"
    price_state = ("atr",)

    def __init__(self, period: int = 14):
        self.period = period

    def params(self) -> dict:
        return {"period": self.period}

    def outputs(self) -> list[FeatureSpec]:
        return [FeatureSpec(f"atr_{self.period}", self.name, self.period, 0.0, 1.0)]

    def init(self, n: int) -> State:
        return {"atr": np.zeros(n), "n": np.zeros(n, np.int64)}

    def step(self, st: State, x: StepInput) -> dict[str, np.ndarray]:
        tr = np.maximum(x.high - x.low, np.maximum(np.abs(x.high - x.prev_close), np.abs(x.low - x.prev_close)))
        cnt = st["n"] + 1
        w = np.where(cnt <= self.period, 1.0 / cnt, 1.0 / self.period)
        atr = st["atr"] + w * (tr - st["atr"])
        commit(st, "atr", atr, x.upd)
        commit(st, "n", cnt, x.upd)
        return {f"atr_{self.period}": atr / x.close}


class RealizedVol(Kernel):
    """EWM realized volatility of 1-bar log returns, ``sqrt(EWM(r^2))``, for each half-life (in bars).

    >>> from features.kernels.testing import run_one
    >>> [r["rv_ewm_2"] for r in run_one(RealizedVol((2,)), [10, 10.1, 10.0, 10.2])]
    [0.0, 0.0054, 0.007, 0.0122]
    """

    name = "realized_vol"

    def __init__(self, halflives: tuple[int, ...] = (5, 30)):
        self.halflives = halflives

    def params(self) -> dict:
        return {"halflives": list(self.halflives)}

    def outputs(self) -> list[FeatureSpec]:
        return [FeatureSpec(f"rv_ewm_{h}", self.name, h, 0.0, 1.0) for h in self.halflives]

    def init(self, n: int) -> State:
        return {f"v{h}": np.full(n, np.nan) for h in self.halflives}

    def step(self, st: State, x: StepInput) -> dict[str, np.ndarray]:
        out = {}
        r2 = x.ret1 * x.ret1
        for h in self.halflives:
            prev = st[f"v{h}"]
            v = np.where(np.isnan(prev), r2, prev + ewm_alpha(h) * (r2 - prev))  # seeded like pandas adjust=False
            commit(st, f"v{h}", v, x.upd)
            out[f"rv_ewm_{h}"] = np.sqrt(v)
        return out

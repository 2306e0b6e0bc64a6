"""Momentum: RSI (Wilder), rate of change, MACD normalized by price, price vs SMA and EMA."""

import numpy as np

from features.spec import FeatureSpec, Kernel, Ring, State, StepInput, commit


class RSI(Kernel):
    """RSI with Wilder smoothing of 1-bar price changes (gap excluded: the first bar of a session uses its open).

    >>> from features.kernels.testing import run_one
    >>> [r["rsi_3"] for r in run_one(RSI(3), [10, 11, 10.5, 12, 11])]
    [nan, 100.0, 66.6667, 86.6667, 54.1667]
    """

    name = "rsi"
    price_state = ("gain", "loss")

    def __init__(self, period: int = 14):
        self.period = period

    def params(self) -> dict:
        return {"period": self.period}

    def outputs(self) -> list[FeatureSpec]:
        return [FeatureSpec(f"rsi_{self.period}", self.name, self.period + 1, 0.0, 100.0)]

    def init(self, n: int) -> State:
        return {"gain": np.zeros(n), "loss": np.zeros(n), "n": np.zeros(n, np.int64)}

    def step(self, st: State, x: StepInput) -> dict[str, np.ndarray]:
        p = self.period
        d = x.close - x.prev_close
        cnt = st["n"] + 1
        up, dn = np.maximum(d, 0.0), np.maximum(-d, 0.0)
        # Wilder: a simple mean over the first `period` changes, then (prev * (p - 1) + new) / p
        w = np.where(cnt <= p, 1.0 / cnt, 1.0 / p)
        gain = st["gain"] + w * (up - st["gain"])
        loss = st["loss"] + w * (dn - st["loss"])
        commit(st, "gain", gain, x.upd)
        commit(st, "loss", loss, x.upd)
        commit(st, "n", cnt, x.upd)
        with np.errstate(divide="ignore", invalid="ignore"):
            rsi = np.where(loss == 0, np.where(gain == 0, 50.0, 100.0), 100.0 - 100.0 / (1.0 + gain / loss))
        # the very first bar of a symbol has no change yet
        return {f"rsi_{p}": np.where(cnt > 1, rsi, np.nan) if p > 0 else rsi}


class ROC(Kernel):
    """Rate of change over 1, 5, 15 bars from the running product of 1-bar gross returns ``close / prev_close``
    (so overnight gaps are excluded): ``roc_w = cum_t / cum_{t-w} - 1``.

    >>> from features.kernels.testing import run_one
    >>> [r["roc_2"] for r in run_one(ROC((1, 2)), [10, 11, 12.1, 12.1])]
    [nan, 0.1, 0.21, 0.1]
    """

    name = "roc"

    def __init__(self, windows: tuple[int, ...] = (1, 5, 15)):
        self.windows = windows

    def params(self) -> dict:
        return {"windows": list(self.windows)}

    def outputs(self) -> list[FeatureSpec]:
        return [FeatureSpec(f"roc_{w}", self.name, w + 1, -1.0, 10.0) for w in self.windows]

    def init(self, n: int) -> State:
        st: State = {"cum": np.ones(n)}
        Ring.init(st, "hist", n, Ring.lookback(max(self.windows)))
        return st

    def step(self, st: State, x: StepInput) -> dict[str, np.ndarray]:
        with np.errstate(divide="ignore", invalid="ignore"):
            cum = st["cum"] * (x.close / x.prev_close)
        commit(st, "cum", cum, x.upd)
        Ring.push(st, "hist", cum, x.upd)
        first = st["hist_n"] <= 1  # the first bar's "return" is open->close, not a change from a known close
        return {f"roc_{w}": np.where(first, np.nan, cum / _cum_ago(st, w) - 1.0) for w in self.windows}


def _cum_ago(st: State, k: int) -> np.ndarray:
    """The running product ``k`` pushes ago (1 before the first push)."""
    v = Ring.ago(st, "hist", k)
    return np.where(st["hist_n"] == k, 1.0, v)


class MACD(Kernel):
    """MACD(12, 26, 9): line = (EMA12 - EMA26) / close, signal = EMA9 of the line, histogram = line - signal.

    >>> from features.kernels.testing import run_one
    >>> r = run_one(MACD(2, 3, 2), [10, 11, 12, 11])
    >>> [x["macd_line"] for x in r], [x["macd_hist"] for x in r]
    ([0.0, 0.0152, 0.0255, 0.0055], [0.0, 0.0051, 0.0051, -0.005])
    """

    name = "macd"
    price_state = ("fast", "slow")

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9):
        self.fast, self.slow, self.signal = fast, slow, signal

    def params(self) -> dict:
        return {"fast": self.fast, "slow": self.slow, "signal": self.signal}

    def outputs(self) -> list[FeatureSpec]:
        w = self.slow + self.signal
        return [FeatureSpec(n, self.name, w, -0.5, 0.5) for n in ("macd_line", "macd_signal", "macd_hist")]

    def init(self, n: int) -> State:
        return {"fast": np.full(n, np.nan), "slow": np.full(n, np.nan), "sig": np.full(n, np.nan)}

    def step(self, st: State, x: StepInput) -> dict[str, np.ndarray]:
        def ema(prev: np.ndarray, v: np.ndarray, span: int) -> np.ndarray:
            a = 2.0 / (span + 1)
            return np.where(np.isnan(prev), v, prev + a * (v - prev))

        fast, slow = ema(st["fast"], x.close, self.fast), ema(st["slow"], x.close, self.slow)
        line = (fast - slow) / x.close
        sig = ema(st["sig"], line, self.signal)
        for k, v in (("fast", fast), ("slow", slow), ("sig", sig)):
            commit(st, k, v, x.upd)
        return {"macd_line": line, "macd_signal": sig, "macd_hist": line - sig}


class MovingAverages(Kernel):
    """Price vs SMA(20) and EMA(20): ``close / average - 1``.

    >>> from features.kernels.testing import run_one
    >>> [r["px_sma_3"] for r in run_one(MovingAverages(3), [10, 11, 12, 9])]
    [0.0, 0.0476, 0.0909, -0.1562]
    """

    name = "ma"
    price_state = ("ema", "buf")

    def __init__(self, window: int = 20):
        self.window = window

    def params(self) -> dict:
        return {"window": self.window}

    def outputs(self) -> list[FeatureSpec]:
        w = self.window
        return [
            FeatureSpec(f"px_sma_{w}", self.name, w, -0.9, 9.0),
            FeatureSpec(f"px_ema_{w}", self.name, w, -0.9, 9.0),
        ]

    def init(self, n: int) -> State:
        st: State = {"ema": np.full(n, np.nan)}
        Ring.init(st, "buf", n, self.window)
        return st

    def step(self, st: State, x: StepInput) -> dict[str, np.ndarray]:
        w = self.window
        Ring.push(st, "buf", x.close, x.upd)
        filled = np.minimum(st["buf_n"], w)
        sma = st["buf"].sum(axis=0) / np.maximum(filled, 1)
        a = 2.0 / (w + 1)
        ema = np.where(np.isnan(st["ema"]), x.close, st["ema"] + a * (x.close - st["ema"]))
        commit(st, "ema", ema, x.upd)
        return {f"px_sma_{w}": x.close / sma - 1.0, f"px_ema_{w}": x.close / ema - 1.0}

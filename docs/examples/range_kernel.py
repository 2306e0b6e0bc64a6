"""An example of a researcher's own feature: the bar's high-low range in units of its recent average.

Add it to the engine and audit it before a model trains on it (README, "Adding a feature"):

    .venv/bin/tickwise audit-features --kernel docs/examples/range_kernel.py:RangeRatio

A kernel is vectorized over the symbol axis: ``init`` makes its state for ``n`` symbols, ``step`` consumes one
minute's cross-section and returns each output for every symbol. Everything it remembers lives in the state (so
it is saved, restored and rescaled on corporate actions); a symbol without a bar this minute (``x.upd`` false)
keeps its values.
"""

import numpy as np

from features.spec import FeatureSpec, Kernel, State, StepInput, commit, ewm_alpha


class RangeRatio(Kernel):
    """``range_ratio = (high - low) / EWM(high - low)``: above 1 when this minute moved more than usual.

    >>> from features.kernels.testing import run_one
    >>> [round(r["range_ratio"], 3) for r in run_one(RangeRatio(10), [10, 10, 10], spread=0.02)]
    [1.0, 1.0, 1.0]
    """

    name = "range_ratio"
    price_state = ("avg",)  # a price-level quantity: rescaled by a split or a dividend before the ex-date's first bar

    def __init__(self, halflife: int = 10):
        self.halflife = halflife

    def params(self) -> dict:
        return {"halflife": self.halflife}  # enters the feature-set version

    def outputs(self) -> list[FeatureSpec]:
        return [FeatureSpec("range_ratio", self.name, warmup=self.halflife, lo=0.0, hi=1e3)]

    def init(self, n: int) -> State:
        return {"avg": np.full(n, np.nan), "out": np.full(n, np.nan)}

    def step(self, st: State, x: StepInput) -> dict[str, np.ndarray]:
        rng = x.high - x.low
        prev = st["avg"]
        avg = np.where(np.isnan(prev), rng, prev + ewm_alpha(self.halflife) * (rng - prev))
        commit(st, "avg", avg, x.upd)
        with np.errstate(invalid="ignore", divide="ignore"):
            commit(st, "out", np.where(avg > 0, rng / avg, 1.0), x.upd)
        return {"range_ratio": st["out"].copy()}

"""Microstructure: quoted spread in bps and order-book imbalance, raw and EWM-smoothed.

A bar without a usable quote (missing, one-sided or crossed) keeps the last values.
"""

import numpy as np

from features.spec import FeatureSpec, Kernel, State, StepInput, commit, ewm_alpha


class SpreadImbalance(Kernel):
    """``spread_bps = (ask - bid) / mid * 1e4``; ``obi = (bid_size - ask_size) / (bid_size + ask_size)``.

    >>> from features.kernels.testing import run_one
    >>> [(r["spread_bps"], r["obi"], r["obi_ewm_5"]) for r in run_one(SpreadImbalance(5), [10, 10], spread=0.02)]
    [(20.0, 0.5, 0.5), (20.0, 0.5, 0.5)]
    """

    name = "micro"

    def __init__(self, halflife: int = 5):
        self.halflife = halflife

    def params(self) -> dict:
        return {"halflife": self.halflife}

    def outputs(self) -> list[FeatureSpec]:
        h = self.halflife
        return [
            FeatureSpec("spread_bps", self.name, 1, 0.0, 5000.0),
            FeatureSpec(f"spread_bps_ewm_{h}", self.name, 1, 0.0, 5000.0),
            FeatureSpec("obi", self.name, 1, -1.0, 1.0),
            FeatureSpec(f"obi_ewm_{h}", self.name, 1, -1.0, 1.0),
        ]

    def init(self, n: int) -> State:
        return {k: np.full(n, np.nan) for k in ("spread", "spread_s", "obi", "obi_s")}

    def step(self, st: State, x: StepInput) -> dict[str, np.ndarray]:
        with np.errstate(invalid="ignore", divide="ignore"):
            ok = x.upd & (x.bid > 0) & (x.ask >= x.bid) & (x.bid_size + x.ask_size > 0)
            spread = (x.ask - x.bid) / ((x.ask + x.bid) / 2) * 1e4
            obi = (x.bid_size - x.ask_size) / (x.bid_size + x.ask_size)
        a = ewm_alpha(self.halflife)
        for raw, sm, v in (("spread", "spread_s", spread), ("obi", "obi_s", obi)):
            prev = st[sm]
            commit(st, raw, v, ok)
            commit(st, sm, np.where(np.isnan(prev), v, prev + a * (v - prev)), ok)
        h = self.halflife
        return {
            "spread_bps": st["spread"].copy(),
            f"spread_bps_ewm_{h}": st["spread_s"].copy(),
            "obi": st["obi"].copy(),
            f"obi_ewm_{h}": st["obi_s"].copy(),
        }

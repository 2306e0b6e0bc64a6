"""Cross-asset lead-lag: SPY's and the leader's recent returns, beta-adjusted residual, cross-sectional rank,
and market volatility context (SPY realized volatility as a VIX proxy).

The leader of a stock is its sector ETF from ``reference`` (SPY when no reference is given). Leaders' values are
read at the same minute: a bar stamped ``ts`` is known at ``ts`` for every symbol, so nothing here looks ahead.
"""

import numpy as np
from scipy.stats import rankdata

from features.spec import FeatureSpec, Kernel, Ring, State, StepInput, commit, ewm_alpha


class CrossAsset(Kernel):
    """Expects ``x.extra["leader"]`` (leader index per symbol, -1 = none) and ``x.extra["spy"]`` (index or -1).

    A stock led by SPY (the outputs before the engine's warm-ups): SPY's returns over the last 1 and 2 bars, the
    stock's beta on it (a plain mean of the products until the EWM's weight is smaller) and its residual return,
    its rank among the two names' 2-bar returns, SPY's realized volatility:

    >>> from features.kernels.testing import run_pair
    >>> rows = run_pair(CrossAsset(windows=(1, 2), rank_window=2), [100, 101, 100, 102], [50, 51, 50.2, 51.5])
    >>> [(r["spy_ret_1"], r["spy_ret_2"], r["beta_lead"], r["resid_ret_1"], r["xs_rank_ret_2"]) for r in rows[1:]]
    [(0.01, 0.01, 1.9901, -0.0, 1.0), (-0.0099, 0.0, 1.7896, 0.002, 1.0), (0.02, 0.0099, 1.4583, -0.0033, 0.0)]
    >>> [r["mkt_vol"] for r in rows]
    [0.0, 0.0015, 0.0021, 0.0037]
    """

    name = "cross_asset"

    def __init__(
        self,
        windows: tuple[int, ...] = (1, 2, 5),
        beta_halflife: int = 60,
        vol_halflife: int = 30,
        rank_window: int = 5,
        beta_clip: float = 20.0,
    ):
        self.windows, self.beta_halflife, self.vol_halflife = windows, beta_halflife, vol_halflife
        self.rank_window = rank_window
        self.beta_clip = beta_clip  # an EWM beta against a leader that barely moved is noise, not a +-40 exposure

    def params(self) -> dict:
        return {
            "windows": list(self.windows),
            "beta_halflife": self.beta_halflife,
            "vol_halflife": self.vol_halflife,
            "rank_window": self.rank_window,
            "beta_clip": self.beta_clip,
            "rank_ties": "average",  # before: registry order (a feature-set version of its own)
        }

    def outputs(self) -> list[FeatureSpec]:
        out = [FeatureSpec(f"spy_ret_{w}", self.name, 1, -1.0, 10.0) for w in self.windows]
        out += [FeatureSpec(f"lead_ret_{w}", self.name, 1, -1.0, 10.0) for w in self.windows]
        out += [
            FeatureSpec("beta_lead", self.name, 30, -self.beta_clip, self.beta_clip),
            FeatureSpec("resid_ret_1", self.name, 30, -5.0, 5.0),
            FeatureSpec(f"xs_rank_ret_{self.rank_window}", self.name, self.rank_window + 1, 0.0, 1.0),
            FeatureSpec("mkt_vol", self.name, 1, 0.0, 1.0),
        ]
        return out

    def init(self, n: int) -> State:
        st: State = {
            "csum": np.zeros(n),
            "cov": np.zeros(n),
            "var": np.zeros(n),
            "rv": np.zeros(n),
            "n": np.zeros(n, np.int64),
        }
        Ring.init(st, "hist", n, Ring.lookback(max(*self.windows, self.rank_window)), first=0.0)
        return st

    def _ret(self, st: State, w: int) -> np.ndarray:
        return np.expm1(st["csum"] - np.where(st["hist_n"] > w, Ring.ago(st, "hist", w), 0.0))

    def step(self, st: State, x: StepInput) -> dict[str, np.ndarray]:
        n = len(x.close)
        lead = np.asarray(x.extra.get("leader", np.full(n, -1)))
        spy = int(x.extra.get("spy", -1))
        lead = np.where(lead >= 0, lead, spy)
        commit(st, "csum", st["csum"] + x.ret1, x.upd)
        Ring.push(st, "hist", st["csum"], x.upd)
        rv = st["rv"] + ewm_alpha(self.vol_halflife) * (x.ret1 * x.ret1 - st["rv"])
        commit(st, "rv", rv, x.upd)
        out: dict[str, np.ndarray] = {}
        has_lead = lead >= 0
        li = np.maximum(lead, 0)
        for w in self.windows:
            own = self._ret(st, w)
            out[f"spy_ret_{w}"] = np.full(n, own[spy] if spy >= 0 else np.nan)
            out[f"lead_ret_{w}"] = np.where(has_lead, own[li], np.nan)
        # the leader's return this minute (0 if it did not trade)
        lr = np.where(has_lead & x.upd[li], x.ret1[li], 0.0)
        lr = np.where(has_lead, lr, np.nan)
        a = np.maximum(ewm_alpha(self.beta_halflife), 1.0 / (st["n"] + 1))
        cov = st["cov"] + a * (x.ret1 * np.nan_to_num(lr) - st["cov"])
        var = st["var"] + a * (np.nan_to_num(lr) ** 2 - st["var"])
        commit(st, "cov", cov, x.upd)
        commit(st, "var", var, x.upd)
        commit(st, "n", st["n"] + 1, x.upd)
        with np.errstate(divide="ignore", invalid="ignore"):
            beta = np.clip(np.where(var > 0, cov / var, 0.0), -self.beta_clip, self.beta_clip)
        beta = np.where(lead == np.arange(n), 1.0, beta)  # a leader against itself
        out["beta_lead"] = np.where(has_lead, beta, np.nan)
        out["resid_ret_1"] = x.ret1 - beta * lr
        # ranked on the log return (the same order as the return, and no exp needed to get it)
        rk = st["csum"] - np.where(st["hist_n"] > self.rank_window, Ring.ago(st, "hist", self.rank_window), 0.0)
        ok = x.upd & (st["hist_n"] > self.rank_window)
        ranks = np.full(n, np.nan)
        if ok.sum() > 1:  # equal returns share the mean of their places
            ranks[ok] = (rankdata(rk[ok], method="average") - 1) / (ok.sum() - 1)
        out[f"xs_rank_ret_{self.rank_window}"] = ranks
        out["mkt_vol"] = np.full(n, np.sqrt(rv[spy]) if spy >= 0 else np.nan)
        return out

"""Volume: signed-volume (OBV) change z-score, volume vs the same minute's history, VWAP deviations."""

import numpy as np

from features.spec import FeatureSpec, Kernel, Ring, State, StepInput, commit, ewm_alpha

MINUTES = 391  # regular session minutes + 1 (index 0 unused)
SD_FLOOR = 0.25  # in log1p(volume) units


class OBV(Kernel):
    """OBV change over ``window`` bars, z-scored: ``sum(sign(r) * volume) / sqrt(window * EWM(volume^2))``.

    >>> from features.kernels.testing import run_one
    >>> [r["obv_z_2"] for r in run_one(OBV(2), [10, 11, 12, 11.5])]
    [0.0, 0.7071, 1.4142, 0.0]
    """

    name = "obv"
    volume_state = ("obv", "hist", "v2")

    def __init__(self, window: int = 5, halflife: int = 30):
        self.window, self.halflife = window, halflife

    def params(self) -> dict:
        return {"window": self.window, "halflife": self.halflife}

    def outputs(self) -> list[FeatureSpec]:
        return [FeatureSpec(f"obv_z_{self.window}", self.name, self.window, -50.0, 50.0)]

    def init(self, n: int) -> State:
        st: State = {"obv": np.zeros(n), "v2": np.zeros(n), "n": np.zeros(n, np.int64)}
        Ring.init(st, "hist", n, Ring.lookback(self.window), first=0.0)
        return st

    def step(self, st: State, x: StepInput) -> dict[str, np.ndarray]:
        obv = st["obv"] + np.sign(x.ret1) * x.volume
        cnt = st["n"] + 1
        a = np.maximum(ewm_alpha(self.halflife), 1.0 / cnt)  # a plain mean until the EWM has enough history
        v2 = st["v2"] + a * (x.volume * x.volume - st["v2"])
        commit(st, "obv", obv, x.upd)
        commit(st, "v2", v2, x.upd)
        commit(st, "n", cnt, x.upd)
        Ring.push(st, "hist", obv, x.upd)
        w = self.window
        back = np.nan_to_num(Ring.ago(st, "hist", w), nan=0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(v2 > 0, (obv - back) / np.sqrt(w * v2), 0.0)
        return {f"obv_z_{w}": z}


class VolumeTimeOfDay(Kernel):
    """Volume z-score against the same minute of past sessions (EWM over days, in log1p volume).

    A minute never seen before falls back to the symbol's all-minute statistics; history updates after the
    value is computed, so a bar never sees itself. Here every bar is a new minute of the day, so the all-minute
    statistics serve (a plain mean while the EWM's weight is smaller; a scale floored at ``SD_FLOOR``):

    >>> from features.kernels.testing import run_one
    >>> [r["vol_z_tod"] for r in run_one(VolumeTimeOfDay(), [10] * 5, volumes=[100, 100, 400, 100, 25])]
    [nan, nan, 5.5154, -0.7071, -2.8502]
    """

    name = "volume_tod"

    def __init__(self, halflife_days: float = 5.0):
        self.halflife_days = halflife_days

    def params(self) -> dict:
        return {"halflife_days": self.halflife_days}

    def outputs(self) -> list[FeatureSpec]:
        return [FeatureSpec("vol_z_tod", self.name, 2, -60.0, 60.0)]

    def init(self, n: int) -> State:
        return {
            # per symbol and minute: the EWM mean, variance and count of log1p(volume) (``tod[0:3, minute, i]``),
            # column-major: the three together (one cache line a symbol touches at a minute), a symbol's minutes
            # contiguous (the batch fold walks a symbol's day)
            "tod": np.zeros((3, MINUTES, n), order="F"),
            "gm": np.zeros(n),
            "gs": np.zeros(n),
            "gc": np.zeros(n),
        }

    def rescale(self, st: State, idx: np.ndarray, price_factor: np.ndarray, split_ratio: np.ndarray) -> None:
        shift = np.log(split_ratio)  # approx: log1p(v * r) ~ log1p(v) + log(r) for traded sizes
        mean, count = st["tod"][0], st["tod"][2]
        mean[:, idx] += shift * (count[:, idx] > 0)
        st["gm"][idx] += shift * (st["gc"][idx] > 0)

    def step(self, st: State, x: StepInput) -> dict[str, np.ndarray]:
        lv = np.log1p(x.volume)
        m = min(max(x.minute, 1), MINUTES - 1)
        tod = {"m": st["tod"][0], "s": st["tod"][1], "c": st["tod"][2], "gm": st["gm"], "gs": st["gs"], "gc": st["gc"]}
        mu, var, c = tod["m"][m], tod["s"][m], tod["c"][m]
        use_tod = c >= 2
        mean = np.where(use_tod, mu, tod["gm"])
        sd = np.sqrt(np.where(use_tod, var, tod["gs"]))
        # a floor on the scale: two similar early samples must not turn a normal minute into a 1000-sigma event
        z = (lv - mean) / np.maximum(sd, SD_FLOOR)
        z = np.where((tod["gc"] >= 2) | use_tod, z, np.nan)
        a_day = max(ewm_alpha(self.halflife_days), 0.0)
        for mk, sk, ck, col in (("m", "s", "c", m), ("gm", "gs", "gc", None)):
            mu0 = tod[mk][col] if col is not None else tod[mk]
            s0 = tod[sk][col] if col is not None else tod[sk]
            c0 = tod[ck][col] if col is not None else tod[ck]
            a = np.maximum(a_day if col is not None else ewm_alpha(390 * self.halflife_days), 1.0 / (c0 + 1))
            d = lv - mu0
            mu1 = mu0 + a * d
            s1 = (1 - a) * (s0 + a * d * d)
            rows = np.flatnonzero(x.upd)
            if col is not None:
                tod[mk][col, rows], tod[sk][col, rows], tod[ck][col, rows] = mu1[rows], s1[rows], c0[rows] + 1
            else:
                tod[mk][rows], tod[sk][rows], tod[ck][rows] = mu1[rows], s1[rows], c0[rows] + 1
        return {"vol_z_tod": z}


class VWAPDeviation(Kernel):
    """Close vs session VWAP and vs a rolling ``window``-bar VWAP: ``close / vwap - 1``.

    >>> from features.kernels.testing import run_one
    >>> [(r["vwap_dev_sess"], r["vwap_dev_2"]) for r in run_one(VWAPDeviation(2), [10, 11, 12])]
    [(0.0, 0.0), (0.0732, 0.0732), (0.125, 0.0909)]
    """

    name = "vwap"

    def __init__(self, window: int = 30):
        self.window = window

    def params(self) -> dict:
        return {"window": self.window}

    def outputs(self) -> list[FeatureSpec]:
        return [
            FeatureSpec("vwap_dev_sess", self.name, 1, -0.9, 9.0),
            FeatureSpec(f"vwap_dev_{self.window}", self.name, self.window, -0.9, 9.0),
        ]

    def init(self, n: int) -> State:
        st: State = {"spv": np.zeros(n), "sv": np.zeros(n), "sess": np.full(n, -1, np.int64)}
        Ring.init(st, "pv", n, self.window)
        Ring.init(st, "v", n, self.window)
        # the compiled kernel's running window sums (features.fused.rolling): valid for push count ``run[5]``; this
        # kernel re-sums the rings itself and leaves them behind
        st["run"] = np.zeros((6, n), order="F")
        return st

    def rescale(self, st: State, idx: np.ndarray, price_factor: np.ndarray, split_ratio: np.ndarray) -> None:
        # price x volume scales by price_factor * split_ratio; volume by split_ratio
        for k in ("spv", "pv"):
            st[k][..., idx] *= price_factor * split_ratio
        for k in ("sv", "v"):
            st[k][..., idx] *= split_ratio
        st["run"][5, idx] = -1  # the rings changed: the running sums no longer hold

    def step(self, st: State, x: StepInput) -> dict[str, np.ndarray]:
        sess = int(x.extra.get("session", 0))
        fresh = st["sess"] != sess
        pv = x.vwap * x.volume
        spv = np.where(fresh, 0.0, st["spv"]) + pv
        sv = np.where(fresh, 0.0, st["sv"]) + x.volume
        commit(st, "spv", spv, x.upd)
        commit(st, "sv", sv, x.upd)
        commit(st, "sess", np.full_like(st["sess"], sess), x.upd)
        Ring.push(st, "pv", pv, x.upd)
        Ring.push(st, "v", x.volume, x.upd)
        rv = st["v"].sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            s_vwap = np.where(sv > 0, spv / sv, x.close)
            r_vwap = np.where(rv > 0, st["pv"].sum(axis=0) / rv, x.close)
        return {"vwap_dev_sess": x.close / s_vwap - 1.0, f"vwap_dev_{self.window}": x.close / r_vwap - 1.0}

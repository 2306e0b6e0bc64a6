"""Quality checks on a features_1m table (plain functions; the Dagster asset reports them as asset checks)."""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from features.engine import FeatureEngine

# Features that may stay NaN after warm-up for a reason that is not a bug: no quote ever seen, no leader or SPY
# in the universe, no time-of-day history yet, the FFD minute grid not yet filled.
MAY_BE_MISSING = {
    "spread_bps",
    "spread_bps_ewm_5",
    "obi",
    "obi_ewm_5",
    "vol_z_tod",
    "beta_lead",
    "resid_ret_1",
    "mkt_vol",
    "xs_rank_ret_5",
}


@dataclass
class Outcome:
    name: str
    passed: bool
    metadata: dict


class Tally:
    """The two value checks' sums, added a day at a time, so a range of partitions is checked without holding it:
    per feature, the NaN rows and the warm rows (rows whose symbol has had at least the feature's warm-up of bars),
    and the smallest and largest value. The outcomes equal the checks run on the days' concatenation."""

    def __init__(self, engine: FeatureEngine, max_share: float = 0.0):
        self.engine, self.max_share = engine, max_share
        self.nan = dict.fromkeys(engine.names, 0)
        self.warm = dict.fromkeys(engine.names, 0)
        self.lo = dict.fromkeys(engine.names, np.inf)
        self.hi = dict.fromkeys(engine.names, -np.inf)

    def add(self, table: pa.Table, counts: np.ndarray) -> "Tally":
        """One day's ``features_1m`` rows and, per row, the bars its symbol had updated with (``fold``'s counts)."""
        warmup = {s.name: s.warmup for s in self.engine.specs}  # context columns have no warm-up: bounds only
        for name in self.engine.names:
            v = table.column(name).to_numpy(zero_copy_only=False).astype(float)
            nan = np.isnan(v)
            if name in warmup:
                warm = counts >= warmup[name]
                self.nan[name] += int(nan[warm].sum())
                self.warm[name] += int(warm.sum())
            if not nan.all():
                self.lo[name] = min(self.lo[name], float(np.nanmin(v)))
                self.hi[name] = max(self.hi[name], float(np.nanmax(v)))
        return self

    def nan_after_warmup(self) -> Outcome:
        bad: dict[str, float] = {}
        for spec in self.engine.specs:
            if spec.name in MAY_BE_MISSING or spec.name.startswith(("ffd_", "lead_ret", "spy_ret")):
                continue
            if self.warm[spec.name] and self.nan[spec.name] / self.warm[spec.name] > self.max_share:
                bad[spec.name] = round(self.nan[spec.name] / self.warm[spec.name], 6)
        info = {"violations": str(bad) if bad else "none", "threshold": self.max_share}
        return Outcome("no_nan_after_warmup", not bad, info)

    def within_bounds(self) -> Outcome:
        bad = {}
        for name in self.engine.names:
            lo, hi = self.engine.bounds[name]
            if self.lo[name] < lo or self.hi[name] > hi:
                bad[name] = f"[{self.lo[name]:.4g}, {self.hi[name]:.4g}] not in [{lo}, {hi}]"
        info = {"violations": str(bad) if bad else "none", "features": len(self.engine.names)}
        return Outcome("values_within_bounds", not bad, info)


def version_recorded(metadata: dict[str, str], engine: FeatureEngine) -> Outcome:
    got = metadata.get("tickwise.feature_set_version")
    return Outcome(
        "feature_set_version_recorded", got == engine.version, {"recorded": str(got), "expected": engine.version}
    )

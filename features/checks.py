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


def nan_after_warmup(table: pa.Table, engine: FeatureEngine, counts: np.ndarray, max_share: float = 0.0) -> Outcome:
    bad: dict[str, float] = {}
    for spec in engine.specs:
        if spec.name in MAY_BE_MISSING or spec.name.startswith(("ffd_", "lead_ret", "spy_ret")):
            continue
        warm = counts >= spec.warmup
        if not warm.any():
            continue
        col = table.column(spec.name)
        nan = np.isnan(col.to_numpy(zero_copy_only=False).astype(float))
        share = float(nan[warm].mean())
        if share > max_share:
            bad[spec.name] = round(share, 6)
    return Outcome("no_nan_after_warmup", not bad, {"violations": str(bad) if bad else "none", "threshold": max_share})


def within_bounds(table: pa.Table, engine: FeatureEngine) -> Outcome:
    bad = {}
    for name in engine.names:
        lo, hi = engine.bounds[name]
        v = table.column(name).to_numpy(zero_copy_only=False).astype(float)
        v = v[~np.isnan(v)]
        if len(v) and (v.min() < lo or v.max() > hi):
            bad[name] = f"[{v.min():.4g}, {v.max():.4g}] not in [{lo}, {hi}]"
    return Outcome(
        "values_within_bounds", not bad, {"violations": str(bad) if bad else "none", "features": len(engine.names)}
    )


def version_recorded(metadata: dict[str, str], engine: FeatureEngine) -> Outcome:
    got = metadata.get("tickwise.feature_set_version")
    return Outcome(
        "feature_set_version_recorded", got == engine.version, {"recorded": str(got), "expected": engine.version}
    )

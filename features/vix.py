"""A user-supplied VIX series: ``mkt_vol`` becomes the VIX as of each minute instead of SPY's realized volatility.

``ts`` is when a value became known (UTC), ``value`` the index points. The value used at minute ``t`` is the last
one stamped at or before ``t``, as a per-minute volatility (VIX / 100 / sqrt(252 x 390)). The engine's feature-set
version changes with it. Online, a feed adapter appends values as they print (event time must move forward).

>>> import datetime as dt
>>> t = lambda m: dt.datetime(2026, 3, 2, 14, 30 + m, tzinfo=dt.UTC)
>>> v = VixSeries()
>>> v.add(pa.table({"ts": [t(0), t(2)], "value": [20.0, 40.0]}))
>>> [round(float(v.at(int(t(m).timestamp() * 1e9)) * np.sqrt(252 * 390) * 100), 6) for m in (1, 2, 3)]
[20.0, 40.0, 40.0]
"""

import numpy as np
import pyarrow as pa


class VixSeries:
    def __init__(self) -> None:
        self.ts = np.empty(0, np.int64)
        self.value = np.empty(0)

    def add(self, vix: pa.Table) -> None:
        ts = vix.column("ts").cast(pa.timestamp("ns", "UTC")).cast(pa.int64()).to_numpy()
        val = vix.column("value").to_numpy(zero_copy_only=False).astype(np.float64)
        order = np.argsort(ts, kind="stable")
        ts, val = ts[order], val[order]
        if len(self.ts) and len(ts) and ts[0] <= self.ts[-1]:
            raise ValueError("VIX values must arrive in event-time order (a value at or before the last one)")
        if np.any(~np.isfinite(val) | (val <= 0)):
            raise ValueError("VIX values must be positive and finite")
        self.ts = np.concatenate([self.ts, ts])
        self.value = np.concatenate([self.value, val])

    def at(self, ts: int) -> float:
        """Per-minute volatility implied by the last value stamped at or before ``ts`` (NaN before any)."""
        i = int(np.searchsorted(self.ts, ts, side="right")) - 1
        return float(self.value[i] / 100.0 / np.sqrt(252 * 390)) if i >= 0 else float("nan")

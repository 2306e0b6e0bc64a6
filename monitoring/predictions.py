"""The prediction monitor: what the scorer served, cycle by cycle, read from the shadow-logged `signals`.

Per cycle (minute): mean ``p_up``, share above 0.5, how many signals came from the model, the momentum fallback
or the circuit breaker. A summary flags the cycles a healthy model should not produce (degenerate outputs,
fallbacks).
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def per_cycle(signals: pa.Table) -> pa.Table:
    """One row per served minute: ts, n, mean_p_up, share_up, model, fallback, breaker."""
    if signals.num_rows == 0:
        return pa.table(
            {k: pa.array([], t) for k, t in [("ts", pa.int64()), ("n", pa.int64()), ("mean_p_up", pa.float64())]}
        )
    t = signals.select(["ts", "p_up", "source"])
    t = t.append_column("up", pc.cast(pc.greater(t.column("p_up"), 0.5), pa.float64()))
    for s in ("model", "fallback", "breaker"):
        t = t.append_column(s, pc.cast(pc.equal(t.column("source"), s), pa.int64()))
    g = t.group_by("ts").aggregate(
        [("p_up", "count"), ("p_up", "mean"), ("up", "mean"), ("model", "sum"), ("fallback", "sum"), ("breaker", "sum")]
    )
    g = g.rename_columns(["ts", "n", "mean_p_up", "share_up", "model", "fallback", "breaker"])
    return g.sort_by("ts")


def summary(signals: pa.Table) -> dict:
    """Whole-day figures for the drift report and the alert text.

    >>> import datetime as dt
    >>> t0 = dt.datetime(2026, 3, 2, 14, 31, tzinfo=dt.UTC)
    >>> sig = pa.table({"symbol": ["A", "B", "A", "B"], "ts": [t0, t0, t0, t0],
    ...                 "p_up": pa.array([0.6, 0.4, 0.7, 0.5], pa.float32()), "model_version": ["1"] * 4,
    ...                 "source": ["model", "model", "fallback", "breaker"]})
    >>> s = summary(sig)
    >>> (s["signals"], s["cycles"], s["fallback"], s["breaker"], round(s["mean_p_up"], 3))
    (4, 1, 1, 1, 0.55)
    """
    if signals.num_rows == 0:
        return {"signals": 0, "cycles": 0}
    c = per_cycle(signals)
    p = signals.column("p_up").to_numpy().astype(np.float64)
    q = np.quantile(p, [0.01, 0.25, 0.5, 0.75, 0.99])
    return {
        "signals": signals.num_rows,
        "cycles": c.num_rows,
        "mean_p_up": float(p.mean()),
        "share_up": float((p > 0.5).mean()),
        "p_up_quantiles": {k: float(v) for k, v in zip(("p01", "p25", "p50", "p75", "p99"), q, strict=True)},
        "model": int(pc.sum(c.column("model")).as_py()),
        "fallback": int(pc.sum(c.column("fallback")).as_py()),
        "breaker": int(pc.sum(c.column("breaker")).as_py()),
        "cycles_with_fallback": int(pc.sum(pc.greater(c.column("fallback"), 0)).as_py()),
        "cycles_with_breaker": int(pc.sum(pc.greater(c.column("breaker"), 0)).as_py()),
    }

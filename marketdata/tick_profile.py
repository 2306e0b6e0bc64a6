"""How a name's ticks arrive over a session: the figures the simulator's tick rates are calibrated on.

:func:`profile` takes one name's trade and quote times (epoch ns) in one or more sessions and gives the quotes per
trade, the intraday U-shape (the first and last half hour's message rate against midday's) and the burstiness of
its seconds (the 99th percentile of messages in a second against the mean; the share of seconds with none).
"""

import numpy as np

from marketdata.calendar import session_bounds_ns, session_of


def _per_minute(ts: np.ndarray) -> np.ndarray:
    """Messages per minute of the session (390 rows), averaged over the sessions ``ts`` covers."""
    days = np.unique(session_of(ts))
    out = np.zeros(390)
    for d in days:
        lo, _ = session_bounds_ns(d.astype(object))
        m = (ts - lo) // 60_000_000_000
        out += np.bincount(m[(m >= 0) & (m < 390)], minlength=390)[:390]
    return out / max(len(days), 1)


def _seconds(ts: np.ndarray) -> np.ndarray:
    """Messages in each second of the regular sessions ``ts`` covers (empty seconds included)."""
    out = []
    for d in np.unique(session_of(ts)):
        lo, hi = session_bounds_ns(d.astype(object))
        s = (ts[(ts >= lo) & (ts < hi)] - lo) // 1_000_000_000
        out.append(np.bincount(s, minlength=(hi - lo) // 1_000_000_000))
    return np.concatenate(out) if out else np.zeros(0)


def profile(trades_ns: np.ndarray, quotes_ns: np.ndarray) -> dict[str, float]:
    """The arrival figures of one name's ticks (see the module docstring)."""
    out: dict[str, float] = {"quotes_per_trade": len(quotes_ns) / max(len(trades_ns), 1)}
    both = np.sort(np.r_[trades_ns, quotes_ns])
    pm = _per_minute(both)
    mid = pm[120:270].mean()
    out["first30_vs_midday"] = float(pm[:30].mean() / mid)
    out["last30_vs_midday"] = float(pm[-30:].mean() / mid)
    for name, ts in (("trades", trades_ns), ("quotes", quotes_ns)):
        sec = _seconds(ts)
        out[f"{name}_per_min"] = float(sec.sum() / max(len(sec), 1) * 60)
        out[f"{name}_sec_p99_vs_mean"] = float(np.percentile(sec, 99) / max(sec.mean(), 1e-9))
        out[f"{name}_sec_empty"] = float((sec == 0).mean())
    return out

"""What a researcher looks at before trusting out-of-sample figures: whether ``p_up`` means what it says
(calibration), and whether the IC holds session after session or is the work of a few days.

An overfit model is overconfident: its extreme bins come true less often than they claim, and the reliability
curve is flatter than the diagonal (:func:`modeling.metrics.calibration`).
"""

import numpy as np
import polars as pl

from marketdata.schemas import NS_PER_MIN
from modeling.metrics import calibration, expected_calibration_error, minute_ics

NS_PER_DAY = 1440 * NS_PER_MIN


def ic_by_session(ts: np.ndarray, fwd: np.ndarray, preds: dict[str, np.ndarray]) -> tuple[pl.DataFrame, dict]:
    """Per session (the UTC day: a US session never spans two), each prediction's mean per-minute IC (a column per
    name of ``preds``) and ``minutes``, the minutes it averages; beside it each prediction's mean over all minutes
    (the walk-forward's ``ic``: a session tested in part weighs what its minutes do)."""
    m = minute_ics(ts, fwd, preds).with_columns(pl.col(c).fill_nan(None) for c in preds)
    overall = {c: m[c].mean() for c in preds}
    days = m.group_by(pl.col("ts") // NS_PER_DAY).agg(*(pl.col(c).mean() for c in preds), pl.len().alias("minutes"))
    return days.sort("ts").with_columns(pl.from_epoch(pl.col("ts"), "d").alias("day")).drop("ts"), overall


def plot_diagnostics(
    ts: np.ndarray,
    y: np.ndarray,
    fwd: np.ndarray,
    preds: dict[str, np.ndarray],
    path: str,
    title: str = "out-of-sample diagnostics",
) -> str:
    """A PNG: the reliability diagram of each of ``preds`` (with the spread of its predictions below) and its IC
    session by session."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(12, 5.5))
    grid = fig.add_gridspec(2, 2, height_ratios=[3, 1], width_ratios=[1, 1.4])
    rel, hist, ic = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[:, 1])
    lo, hi = 1.0, 0.0
    for name, p in preds.items():
        c = calibration(y, p)
        ece = expected_calibration_error(y, p)
        rel.plot(c["p"], c["rate"], "o-", ms=4, label=f"{name} (ECE {ece:.3f})")
        hist.hist(p[np.isfinite(p)], bins=60, histtype="step", label=name)
        both = np.r_[c["p"].to_numpy(), c["rate"].to_numpy()]
        lo, hi = min(lo, float(both.min())), max(hi, float(both.max()))
    pad = 0.02
    rel.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="#999999", lw=1, ls="--", label="calibrated")
    rel.set(title="reliability (10 equal-count bins)", ylabel="share labelled up")
    rel.legend(fontsize=8)
    hist.set(xlabel="predicted p_up", ylabel="events")
    s, overall = ic_by_session(ts, fwd, preds)
    x = np.arange(len(s))
    width = 0.8 / max(len(preds), 1)
    for j, name in enumerate(preds):
        v = s[name].fill_null(np.nan).to_numpy()
        mean = overall[name]  # None: no minute had enough names to rank (a universe of a few symbols)
        said = f"IC {mean:+.4f} over all minutes" if mean is not None else "IC n/a: too few names a minute"
        ic.bar(x + (j - (len(preds) - 1) / 2) * width, v, width, label=f"{name} ({said})")
    ic.axhline(0, color="black", lw=0.8)
    every = max(1, len(s) // 30)  # a year of sessions stays readable
    ic.set_xticks(x[::every], [str(d) for d in s["day"]][::every], rotation=60, fontsize=7)
    ic.set(title="mean IC per session (rank correlation with the traded forward return)", ylabel="IC")
    ic.legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

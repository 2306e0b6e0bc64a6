"""Bars on a dense (session minute x symbol) grid: the shape labels and backtests work in."""

from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa

from marketdata.calendar import bar_stamps, session_of


@dataclass
class DayGrid:
    """One session: ``stamps`` (T,), ``symbols`` (n,), and (T, n) arrays with NaN where there is no bar."""

    stamps: np.ndarray
    symbols: np.ndarray
    close: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    halted: np.ndarray
    present: np.ndarray
    bid: np.ndarray
    ask: np.ndarray


def day_grids(bars: pa.Table) -> list[DayGrid]:
    """Split bars by session and lay each session on its full minute grid."""
    ts = bars.column("ts").cast(pa.int64()).to_numpy()
    days = session_of(ts)
    symbols_all = np.asarray(bars.column("symbol").to_pylist(), dtype=object)
    cols = {
        c: bars.column(c).to_numpy(zero_copy_only=False).astype(float)
        for c in ("close", "open", "high", "low", "bid", "ask")
    }
    halted = bars.column("halted").to_numpy(zero_copy_only=False).astype(bool)
    out = []
    for d in np.unique(days):
        sel = np.flatnonzero(days == d)
        stamps = np.union1d(bar_stamps(d.astype(object)), ts[sel])
        syms, col_idx = np.unique(symbols_all[sel], return_inverse=True)
        row_idx = np.searchsorted(stamps, ts[sel])
        shape = (len(stamps), len(syms))

        def grid(v: np.ndarray, shape=shape, r=row_idx, c=col_idx) -> np.ndarray:  # type: ignore[no-untyped-def]
            g = np.full(shape, np.nan)
            g[r, c] = v
            return g

        present = np.zeros(shape, bool)
        present[row_idx, col_idx] = True
        h = np.zeros(shape, bool)
        h[row_idx, col_idx] = halted[sel]
        out.append(
            DayGrid(
                stamps,
                syms,
                grid(cols["close"][sel]),
                grid(cols["open"][sel]),
                grid(cols["high"][sel]),
                grid(cols["low"][sel]),
                h,
                present,
                grid(cols["bid"][sel]),
                grid(cols["ask"][sel]),
            )
        )
    return out


def on_mid(g: DayGrid) -> DayGrid:
    """The session priced at the NBBO mid of each bar's end instead of its trades: open, high, low and close are all
    that mid, and a bar without a two-sided quote yet is not present. A close printing at the bid or the ask moves
    the mid not at all, so labels on it carry no bid-ask bounce; the price is the bars' (the last quote before
    ``ts``), so it is known at ``ts``. A barrier is tested at minute ends only (a mid has no high or low here), and a
    session's first return is 0 (no mid before its first bar)."""
    mid = (g.bid + g.ask) / 2
    return replace(g, close=mid, open=mid, high=mid, low=mid, present=g.present & np.isfinite(mid))


def ewm_vol(g: DayGrid, halflife: float, prev_var: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """sigma_t from an EWM of 1-bar log returns known at t (gap-free: a session's first bar uses its open).

    Returns the (T, n) sigma grid and the last variance per symbol (to carry into the next session).
    """
    a = 1 - 0.5 ** (1 / halflife)
    T, n = g.close.shape
    var = np.full(n, np.nan) if prev_var is None else prev_var.copy()
    last = np.full(n, np.nan)
    sig = np.full((T, n), np.nan)
    for t in range(T):
        ok = g.present[t] & ~g.halted[t]
        ref = np.where(np.isnan(last), g.open[t], last)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.log(g.close[t] / ref)
        new = np.where(np.isnan(var), r * r, var + a * (r * r - var))
        var = np.where(ok, new, var)
        last = np.where(ok, g.close[t], last)
        sig[t] = np.sqrt(var)
    return sig, var

"""Corporate actions: back-adjust a price history by cumulative split and dividend factors.

On an ex-date, a split of ``r`` new shares per old divides prices by ``r``; a cash dividend ``D`` scales
prices by ``1 - D / close_before``. The adjusted history is the raw history times the product of the factors
of every ex-date strictly after the row, so the latest prices are unchanged (CRSP/Quandl convention).
"""

import numpy as np
import pyarrow as pa


def price_factors(
    dates: np.ndarray, closes: np.ndarray, ex_dates: np.ndarray, ratios: np.ndarray, dividends: np.ndarray
) -> np.ndarray:
    """Per-row multiplicative price adjustment for ONE symbol's history sorted by date.

    ``dates`` and ``ex_dates`` are ``datetime64[D]``. The close before each ex-date is the last close with
    date < ex-date (a dividend on the first row's date cannot be adjusted and raises).

    >>> d = np.array(["2024-01-02", "2024-01-03", "2024-01-04"], dtype="datetime64[D]")
    >>> price_factors(d, np.array([100.0, 102.0, 51.0]), np.array(["2024-01-04"], dtype="datetime64[D]"),
    ...               np.array([2.0]), np.array([0.0])).tolist()
    [0.5, 0.5, 1.0]
    """
    factor = np.ones(len(dates))
    for ex, r, div in zip(ex_dates, ratios, dividends, strict=True):
        before = dates < ex
        if not before.any():
            continue
        f = 1.0 / r
        if div:
            prev_close = closes[np.flatnonzero(before)[-1]]
            f *= 1.0 - div / prev_close
        factor[before] *= f
    return factor


def back_adjust(history: pa.Table, actions: pa.Table, date_col: str = "date") -> pa.Table:
    """Back-adjust OHLC (and vwap) by price factors and volume by the inverse split factor, per symbol.

    ``history`` has ``symbol``, a date column, price columns among open/high/low/close/vwap and maybe volume.
    """
    import polars as pl

    h = pl.from_arrow(history)
    a = pl.from_arrow(actions)
    assert isinstance(h, pl.DataFrame) and isinstance(a, pl.DataFrame)
    parts = []
    for (sym,), g in h.sort(["symbol", date_col]).group_by(["symbol"], maintain_order=True):
        acts = a.filter(pl.col("symbol") == sym)
        dates = g[date_col].cast(pl.Date).to_numpy().astype("datetime64[D]")
        ex = acts["ex_date"].to_numpy().astype("datetime64[D]")
        ratio, div = acts["split_ratio"].to_numpy(), acts["cash_dividend"].to_numpy()
        pf = price_factors(dates, g["close"].to_numpy(), ex, ratio, div)
        sf = price_factors(dates, g["close"].to_numpy(), ex, ratio, np.zeros_like(div))
        cols = [pl.col(c) * pl.Series(pf) for c in ("open", "high", "low", "close", "vwap") if c in g.columns]
        if "volume" in g.columns:
            cols.append(pl.col("volume") / pl.Series(sf))
        parts.append(g.with_columns(cols))
    return pl.concat(parts).to_arrow() if parts else history

"""Point-in-time as-of join: attach to each event the latest feature row stamped at or before it.

Never matches a row stamped after the event (a strict variant excludes the event's own minute too).
"""

import polars as pl
import pyarrow as pa


def asof_join(
    events: pa.Table,
    features: pa.Table,
    by: str = "symbol",
    on: str = "ts",
    strict: bool = False,
    tolerance: str | None = None,
) -> pa.Table:
    """For each event row, the features of the same ``by`` with the greatest ``on`` <= the event's (< if strict).

    >>> import datetime as dt
    >>> t = lambda m: dt.datetime(2026, 3, 2, 14, m, tzinfo=dt.UTC)
    >>> f = pa.table({"symbol": ["A", "A"], "ts": [t(31), t(33)], "x": [1.0, 2.0]})
    >>> e = pa.table({"symbol": ["A", "A", "A"], "ts": [t(30), t(32), t(33)]})
    >>> asof_join(e, f).column("x").to_pylist()
    [None, 1.0, 2.0]
    >>> asof_join(e, f, strict=True).column("x").to_pylist()
    [None, 1.0, 1.0]
    """
    ev = pl.from_arrow(events)
    ft = pl.from_arrow(features)
    assert isinstance(ev, pl.DataFrame) and isinstance(ft, pl.DataFrame)
    ev = ev.with_row_index("__row").sort(on)
    right = ft.rename({on: "__feat_ts"}).sort("__feat_ts")
    out = ev.join_asof(
        right,
        left_on=on,
        right_on="__feat_ts",
        by=by,
        strategy="backward",
        tolerance=tolerance,
        allow_exact_matches=not strict,
        check_sortedness=False,
    )
    return out.sort("__row").drop(["__row", "__feat_ts"]).to_arrow()

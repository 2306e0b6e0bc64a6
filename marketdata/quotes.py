"""What counts as a usable quote on a bar: one definition for the spread features, the backtest's costs, the drift
report and the live health monitor."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def usable_quote(bars: pa.Table) -> np.ndarray:
    """Per bar, whether it has a usable two-sided quote: bid > 0 and ask >= bid (a missing, one-sided or crossed
    quote is not one; the compiled spread kernel also needs sizes, which a two-sided quote has).

    >>> usable_quote(pa.table({"bid": [9.9, None, 10.2, 0.0], "ask": [10.1, 10.1, 10.1, 10.0]})).tolist()
    [True, False, False, False]
    """
    bid, ask = bars.column("bid"), bars.column("ask")
    ok = pc.fill_null(pc.and_(pc.greater(bid, 0.0), pc.greater_equal(ask, bid)), False)
    return np.asarray(ok.to_numpy(zero_copy_only=False), bool)

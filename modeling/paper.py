"""Paper trading on what the scorer actually served: realized P&L of the served signals, cost-aware.

The shadow log (`signals`) holds every served ``p_up``; each minute the top-k names go long and the bottom-k short
for ``horizon`` minutes (overlapping cohorts), paying half the quoted spread plus a fee per side — the same
backtest as the offline evaluation, fed the served predictions instead of the walk-forward ones, so the two can be
compared line by line. A minute the circuit breaker neutralized (``source == "breaker"``: every ``p_up`` 0.5) opens
no cohort: the breaker stops trading on degenerate output, and ranking a minute of ties would pick names by their
order in the table. Fallback minutes (the momentum heuristic) are traded: they are what was served.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modeling.backtest import BacktestResult, backtest
from modeling.labels import forward_returns, half_spreads


def paper_trade(
    signals: pa.Table,
    bars: pa.Table,
    horizon: int = 5,
    k: int = 10,
    fee_bps: float = 0.5,
    max_half_spread: float | None = None,
) -> BacktestResult:
    """Backtest the served signals against the returns a taker books from the same day's bars
    (:func:`forward_returns`: on the NBBO mid when the bars carry quotes, whatever the labels were made on)."""
    if signals.num_rows == 0:
        raise ValueError("no served signals to paper-trade")
    if "source" in signals.column_names:  # neutralized by the breaker: no position
        signals = signals.filter(pc.not_equal(signals.column("source"), "breaker"))
    fwd = forward_returns(bars, horizon)
    spread = half_spreads(bars)
    # exact minute: a signal stamped ts trades the return that starts at ts (never a stale or later one)
    ev = signals.select(["symbol", "ts", "p_up"]).join(fwd, ["symbol", "ts"], join_type="left outer")
    ev = ev.join(spread, ["symbol", "ts"], join_type="left outer")
    ret = ev.column("fwd").to_numpy(zero_copy_only=False).astype(float)
    return backtest(
        ev.column("ts").cast(pa.int64()).to_numpy(),
        np.asarray(ev.column("symbol").to_pylist(), dtype=object),
        ev.column("p_up").to_numpy().astype(float),
        ret,
        ev.column("half_spread").to_numpy(zero_copy_only=False).astype(float),
        np.asarray(ev.column("halted").fill_null(False).to_numpy(zero_copy_only=False), bool),
        k=k,
        horizon=horizon,
        fee_bps=fee_bps,
        max_half_spread=max_half_spread,
    )

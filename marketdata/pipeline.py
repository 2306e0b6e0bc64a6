"""Plain functions behind the CLI and the Dagster assets: simulate into a lake, aggregate a day of ticks."""

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from marketdata.aggregate import aggregate
from marketdata.lake import Lake
from marketdata.simulator import MarketSimulator, SimConfig
from marketdata.ticks import ticks_for_day

log = logging.getLogger(__name__)


@dataclass
class SimSummary:
    dates: list[dt.date]
    bars: int
    trades: int
    quotes: int
    halts: int
    corporate_actions: int


def simulate_to_lake(
    cfg: SimConfig, lake: Lake, ticks: bool = False, on_day: Callable[[dt.date], None] | None = None
) -> SimSummary:
    """Simulate ``cfg`` into ``lake``: bars_1m, halts, reference, corporate_actions (+ trades/quotes with ticks).

    With ``ticks`` the bars are aggregated from the generated trades and quotes by the one aggregator.
    """
    sim = MarketSimulator(cfg)
    lake.write("reference", sim.reference(), source="simulator")
    rng = np.random.default_rng([cfg.seed, 7])
    n_bars = n_trades = n_quotes = n_halts = 0
    for day in sim.days():
        bars = day.bars
        if ticks:
            trades, quotes = ticks_for_day(day, rng)
            lake.write("trades", trades, source="simulator")
            lake.write("quotes", quotes, source="simulator")
            bars, rejects = aggregate(trades, quotes, day.halts)
            if rejects.num_rows:
                raise RuntimeError(f"simulated ticks were rejected: {rejects.slice(0, 3).to_pylist()}")
            n_trades += trades.num_rows
            n_quotes += quotes.num_rows
        lake.write("bars_1m", bars, source="simulator")
        if day.halts.num_rows:
            lake.write("halts", day.halts, source="simulator")
        n_bars += bars.num_rows
        n_halts += day.halts.num_rows
        if on_day:
            on_day(day.date)
    ca = sim.corporate_actions()
    lake.write("corporate_actions", ca, source="simulator")
    return SimSummary(sim.dates, n_bars, n_trades, n_quotes, n_halts, ca.num_rows)


def aggregate_day(lake: Lake, date: dt.date) -> tuple[pa.Table, pa.Table]:
    """Bars and rejects for one day of the lake's trades and quotes (and halts, if any)."""
    trades = lake.read("trades", [date])
    quotes = lake.read("quotes", [date]) if lake.exists("quotes") else None
    halts = lake.read("halts", [date]) if lake.exists("halts") else None
    return aggregate(trades, quotes, halts)

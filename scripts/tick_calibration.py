"""The simulator's tick arrivals beside a real name's (the TAQ sample in ../shared/data), figure by figure.

    .venv/bin/python scripts/tick_calibration.py

For the simulated side it picks the name whose trade rate is closest to the TAQ name's. Also prints the
cross-section: how the simulated names' rates spread (the heavy tail of liquidity) and the market's total rate.
"""

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from marketdata.simulator import MarketSimulator, SimConfig
from marketdata.tick_profile import profile
from marketdata.ticks import ticks_for_day

TAQ = Path(__file__).resolve().parents[2] / "shared" / "data" / "taq-highfrequency"


def ns(col: pa.ChunkedArray) -> np.ndarray:
    return col.cast(pa.timestamp("ns")).cast(pa.int64()).to_numpy()


def taq() -> dict[str, float] | None:
    if not TAQ.exists():
        return None
    t = pq.read_table(TAQ / "trades_raw_XXX_2018-01-02_03.parquet")
    q = pq.read_table(TAQ / "quotes_raw_XXX_2018-01-02_03.parquet")
    return profile(ns(t.column("DT")), ns(q.column("DT")))  # the files' clock is UTC (tests/conftest.py)


def simulated(symbols: int = 500, days: int = 2) -> tuple[dict[str, float], dict[str, float]]:
    sim = MarketSimulator(SimConfig(symbols=symbols, days=days, seed=7))
    rng = np.random.default_rng(7)
    tr, qu = zip(*(ticks_for_day(d, rng) for d in sim.days()), strict=True)
    trades, quotes = pa.concat_tables(tr), pa.concat_tables(qu)
    counts = pc.value_counts(trades.column("symbol")).to_pylist()
    per_min = {c["values"]: c["counts"] / (390 * days) for c in counts}
    rates = np.sort(np.array(list(per_min.values())))
    target = (taq() or {}).get("trades_per_min", 100.0)
    name = min(per_min, key=lambda s: abs(per_min[s] - target))
    pick = lambda t: ns(t.filter(pc.equal(t.column("symbol"), name)).column("ts"))  # noqa: E731
    market = {
        "names": float(len(rates)),
        "median_trades_per_min": float(np.median(rates)),
        "top1pct_vs_median": float(np.mean(rates[-max(1, len(rates) // 100) :]) / np.median(rates)),
        "ticks_per_s": float((trades.num_rows + quotes.num_rows) / (23_400 * days)),
    }
    return profile(pick(trades), pick(quotes)), market


def main() -> int:
    real = taq()
    sim, market = simulated()
    print(f"{'figure':28s} {'TAQ sample':>12s} {'simulated':>12s}")
    for k, v in sim.items():
        print(f"{k:28s} {real[k] if real else float('nan'):12.2f} {v:12.2f}")
    print("\nsimulated cross-section (500 names, 2 sessions):")
    for k, v in market.items():
        print(f"  {k:26s} {v:12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The simulator's ticks arrive as a real feed's do: figure by figure against the TAQ sample (scripts/
tick_calibration.py prints them side by side), and the cross-section's heavy tail of liquidity."""

import numpy as np
import pyarrow as pa
import pytest

from marketdata.simulator import MarketSimulator, SimConfig
from marketdata.ticks import TickRates, ticks_for_day
from scripts.tick_calibration import simulated, taq
from tests.conftest import shared_data


@pytest.fixture(scope="module")
def sim():
    return simulated(symbols=300, days=2)


def test_a_simulated_name_arrives_like_the_real_one(sim):
    shared_data("taq-highfrequency")
    real, (mine, _) = taq(), sim
    assert real is not None
    for k, tol in (("quotes_per_trade", 0.2), ("first30_vs_midday", 0.25), ("last30_vs_midday", 0.25)):
        assert abs(mine[k] / real[k] - 1) < tol, (k, mine[k], real[k])
    for k in ("trades_sec_p99_vs_mean", "quotes_sec_p99_vs_mean"):  # bursts, not an even drizzle
        assert abs(mine[k] / real[k] - 1) < 0.35, (k, mine[k], real[k])
    for k in ("trades_sec_empty", "quotes_sec_empty"):
        assert abs(mine[k] - real[k]) < 0.2, (k, mine[k], real[k])


def test_liquidity_has_a_heavy_tail_and_the_session_a_u_shape(sim):
    one, market = sim
    assert market["top1pct_vs_median"] >= 10  # the top names print 10-100x the median
    assert one["first30_vs_midday"] > 1.3 and one["last30_vs_midday"] > 1.8
    assert one["trades_sec_p99_vs_mean"] > 5  # an even (Poisson) minute would give ~3-4


def test_scale_multiplies_the_rate_and_bars_keep_their_close_quote():
    day = next(MarketSimulator(SimConfig(symbols=40, days=1, seed=2)).days())
    t1, q1 = ticks_for_day(day, np.random.default_rng(1))
    t3, q3 = ticks_for_day(day, np.random.default_rng(1), TickRates(scale=3.0))
    assert 2.7 < (t3.num_rows + q3.num_rows) / (t1.num_rows + q1.num_rows) < 3.3
    with pytest.raises(ValueError, match="TickRates.scale"):
        TickRates(scale=-1)
    from marketdata.aggregate import aggregate

    bars, _ = aggregate(t3, q3)  # each minute's last quote sits at its close mid, however many came before it
    both = bars.select(["symbol", "ts", "bid", "ask"]).join(
        day.bars.select(["symbol", "ts", "close"]), ["symbol", "ts"]
    )
    mid = (both.column("bid").to_numpy() + both.column("ask").to_numpy()) / 2
    assert both.num_rows > 0.9 * bars.num_rows
    assert np.abs(mid - both.column("close").to_numpy()).max() <= 0.0100001
    assert pa.compute.min(bars.column("trades")).as_py() >= 1

"""Paper trading on served signals: an oracle earns, noise does not, and only the signal's own minute counts."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from marketdata.simulator import MarketSimulator, SimConfig
from modeling.labels import LabelConfig, make_labels
from modeling.paper import paper_trade


@pytest.fixture(scope="module")
def day():
    sim = MarketSimulator(SimConfig(symbols=60, days=1, seed=9, lead_lag=0.0))
    return next(iter(sim.days())).bars


def _signals(bars: pa.Table, p: np.ndarray, keys: pa.Table) -> pa.Table:
    return pa.table(
        {
            "symbol": keys.column("symbol"),
            "ts": keys.column("ts"),
            "p_up": pa.array(p, pa.float32()),
            "model_version": pa.array(["1"] * len(p)),
            "source": pa.array(["model"] * len(p)),
        }
    )


def test_oracle_earns_gross_and_noise_does_not(day):
    fwd = make_labels(day, LabelConfig(horizon=5, kind="fixed_horizon"))
    ret = fwd.column("ret").to_numpy()
    oracle = paper_trade(_signals(day, 1 / (1 + np.exp(-ret * 1e4)), fwd), day, fee_bps=0.0)
    noise = paper_trade(_signals(day, np.random.default_rng(0).uniform(size=len(ret)), fwd), day, fee_bps=0.0)
    assert oracle.metrics["gross_return"] > 0 and oracle.metrics["sharpe_gross"] > 10
    assert abs(noise.metrics["sharpe_gross"]) < 0.2 * oracle.metrics["sharpe_gross"]
    # costs are paid: the same oracle with a fee earns less
    assert (
        paper_trade(_signals(day, 1 / (1 + np.exp(-ret * 1e4)), fwd), day, fee_bps=5.0).metrics["total_return"]
        < (oracle.metrics["total_return"])
    )


def test_a_signal_only_trades_the_return_starting_at_its_own_minute(day):
    fwd = make_labels(day, LabelConfig(horizon=5, kind="fixed_horizon"))
    # signals stamped 30 s after the bar: no bar starts there, so nothing may be traded (as-of would reuse one)
    late = fwd.set_column(1, "ts", pc.add(fwd.column("ts"), pa.scalar(30_000_000_000, pa.duration("ns"))))
    with_late = paper_trade(_signals(day, np.full(late.num_rows, 0.6), late), day)
    assert with_late.metrics["n_minutes"] == 0


def test_threshold_mode_trades_only_confident_names(day):
    from modeling.backtest import backtest

    fwd = make_labels(day, LabelConfig(horizon=5, kind="fixed_horizon"))
    ret = fwd.column("ret").to_numpy()
    ts = fwd.column("ts").cast(pa.int64()).to_numpy()
    sym = np.asarray(fwd.column("symbol").to_pylist(), dtype=object)
    oracle = 1 / (1 + np.exp(-ret * 1e4))
    hs = np.full(len(ret), 1e-4)
    top = backtest(ts, sym, oracle, ret, hs, k=10, fee_bps=0.0)
    thr = backtest(ts, sym, oracle, ret, hs, fee_bps=0.0, threshold=0.9)
    assert thr.metrics["sharpe_gross"] > 10 and top.metrics["sharpe_gross"] > 10
    assert backtest(ts, sym, np.full(len(ret), 0.5), ret, hs, threshold=0.6).metrics["n_minutes"] == 0


def _at_bid_or_ask(day: pa.Table) -> pa.Table:
    """The day with every close printed at the bid or the ask, as tick bars have them."""
    rng = np.random.default_rng(3)
    bid, ask = day.column("bid").to_numpy(), day.column("ask").to_numpy()
    close = np.where(rng.uniform(size=day.num_rows) < 0.5, bid, ask)
    hi = np.maximum(day.column("high").to_numpy(), close)
    lo = np.minimum(day.column("low").to_numpy(), close)
    for k, v in (("close", close), ("high", hi), ("low", lo)):
        day = day.set_column(day.schema.get_field_index(k), k, pa.array(v))
    return day


def test_paper_trading_trades_the_mid_whatever_the_signal_learned(day):
    """An oracle of the trade-price return knows the bounce; a taker trading the mid does not earn it. Without
    quotes (vendor bars) the close is the only price, and the bounce is then booked."""
    ticky = _at_bid_or_ask(day)
    quoteless = ticky
    for k in ("bid", "ask"):
        quoteless = quoteless.set_column(quoteless.schema.get_field_index(k), k, pa.nulls(day.num_rows, pa.float64()))
    gross = {}
    for label in ("close", "mid"):
        fwd = make_labels(ticky, LabelConfig(horizon=5, kind="fixed_horizon", price=label))
        sig = _signals(ticky, 1 / (1 + np.exp(-fwd.column("ret").to_numpy() * 1e4)), fwd)
        gross[label] = paper_trade(sig, ticky, fee_bps=0.0).metrics["gross_return"]
        if label == "close":
            gross["quoteless"] = paper_trade(sig, quoteless, fee_bps=0.0).metrics["gross_return"]
    # the trade-price oracle's edge is mostly bounce (0.44 booked on the close, 0.18 of it on the mid here)
    assert gross["quoteless"] > 2 * gross["close"] > 0
    assert gross["mid"] > gross["close"]


def test_minutes_the_breaker_neutralized_open_no_position(day):
    """A tripped breaker serves 0.5 for every name: a desk does not trade that. Ranking the ties would pick the
    first names of the table every minute and pay their costs."""
    fwd = make_labels(day, LabelConfig(horizon=5, kind="fixed_horizon"))
    ret = fwd.column("ret").to_numpy()
    sig = _signals(day, 1 / (1 + np.exp(-ret * 1e4)), fwd)
    ts = sig.column("ts").cast(pa.int64()).to_numpy()
    minutes = np.unique(ts)
    tripped = np.isin(ts, minutes[100:160])  # an hour neutralized
    p = np.where(tripped, 0.5, sig.column("p_up").to_numpy())
    src = np.where(tripped, "breaker", "model")
    served = sig.set_column(2, "p_up", pa.array(p, pa.float32())).set_column(4, "source", pa.array(src))
    res = paper_trade(served, day)
    opened = res.minute_returns.filter(res.minute_returns["opened"] > 0)["ts"].to_numpy()
    assert not np.isin(opened, minutes[100:160]).any() and len(opened) > 200
    assert res.metrics == pytest.approx(paper_trade(served.filter(pa.array(~tripped)), day).metrics, rel=1e-9)

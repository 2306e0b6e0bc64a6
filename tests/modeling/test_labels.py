import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from features.streams import random_stream
from marketdata.calendar import bar_stamps
from marketdata.schemas import BARS_1M, TS
from modeling.labels import LabelConfig, forward_returns, half_spreads, make_labels, uniqueness_weights

M = 60_000_000_000


def bars_from(closes, highs=None, lows=None, halted=None, day=dt.date(2026, 3, 3), start=0):
    stamps = bar_stamps(day)[start : start + len(closes)]
    n = len(closes)
    c = np.asarray(closes, float)
    hi = np.asarray(highs if highs is not None else c, float)
    lo = np.asarray(lows if lows is not None else c, float)
    return pa.table(
        {
            "symbol": ["A"] * n,
            "ts": pa.array(stamps, pa.int64()).cast(TS),
            "open": c,
            "high": hi,
            "low": lo,
            "close": c,
            "volume": np.ones(n),
            "vwap": c,
            "trades": pa.array([1] * n, pa.int32()),
            "bid": c,
            "ask": c,
            "bid_size": np.ones(n),
            "ask_size": np.ones(n),
            "halted": np.asarray(halted if halted is not None else [False] * n),
        },
        schema=BARS_1M,
    )


def noisy(n, seed=0):
    rng = np.random.default_rng(seed)
    return 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))


def test_touches_timeouts_and_drops():
    c = noisy(60)
    hi, lo = c.copy(), c.copy()
    cfg = LabelConfig(horizon=5, k_up=1.0, k_dn=1.0, vol_halflife=5)
    base = make_labels(bars_from(c, hi, lo), cfg).to_pandas().set_index("ts")
    t = base.index[30]
    i = list(bars_from(c).column("ts").to_pylist()).index(t)
    hi2, lo2 = hi.copy(), lo.copy()
    hi2[i + 2] = c[i] * 1.5  # up-touch two minutes later
    lab = make_labels(bars_from(c, hi2, lo2), cfg).to_pandas().set_index("ts")
    assert lab.loc[t, "label"] == 1 and lab.loc[t, "t1"] - t == np.timedelta64(2, "m")
    lo2[i + 1] = c[i] * 0.5  # ... but a down-touch comes first
    lab = make_labels(bars_from(c, hi2, lo2), cfg).to_pandas().set_index("ts")
    assert lab.loc[t, "label"] == 0 and lab.loc[t, "t1"] - t == np.timedelta64(1, "m")
    three = make_labels(bars_from(c, hi2, lo2), LabelConfig(5, 1.0, 1.0, 5, three_class=True)).to_pandas()
    assert three.set_index("ts").loc[t, "label"] == -1
    # a halt inside the window drops the row; the last 5 minutes of data cannot complete
    h = np.zeros(len(c), bool)
    h[i + 3] = True
    lab = make_labels(bars_from(c, halted=h), cfg).to_pandas().set_index("ts")
    assert t not in lab.index
    assert base.index.max() <= bars_from(c).column("ts")[-1].as_py() - dt.timedelta(minutes=5)


def test_window_never_crosses_the_close():
    c = noisy(30)
    lab = make_labels(bars_from(c, start=390 - 30), LabelConfig(horizon=5, vol_halflife=5))
    last = bar_stamps(dt.date(2026, 3, 3))[-1]
    assert lab.column("t1").cast(pa.int64()).to_numpy().max() <= last
    assert lab.column("ts").cast(pa.int64()).to_numpy().max() <= last - 5 * M


@pytest.mark.parametrize("price", ["close", "mid"])
@pytest.mark.parametrize("kind", ["triple_barrier", "fixed_horizon"])
def test_labels_use_only_prices_after_t(kind, price):
    bars, _, _ = random_stream(2, days=1)
    cfg = LabelConfig(horizon=5, kind=kind, price=price)
    base = make_labels(bars, cfg)
    ts = np.unique(bars.column("ts").cast(pa.int64()).to_numpy())
    cut = int(ts[len(ts) // 2])
    # scramble everything after cut + h: labels stamped <= cut must not change
    tsb = bars.column("ts").cast(pa.int64()).to_numpy()
    far = tsb > cut + 5 * M
    rng = np.random.default_rng(0)
    cols = {
        k: bars.column(k).to_numpy(zero_copy_only=False).copy() for k in ("open", "high", "low", "close", "bid", "ask")
    }
    f = rng.uniform(0.5, 2, far.sum())
    for k in cols:
        cols[k][far] = cols[k][far] * f
    dirty = bars
    for k, v in cols.items():
        dirty = dirty.set_column(dirty.schema.get_field_index(k), k, pa.array(v))
    a = base.filter(pc.less_equal(base.column("ts").cast(pa.int64()), cut))
    b = make_labels(dirty, cfg)
    b = b.filter(pc.less_equal(b.column("ts").cast(pa.int64()), cut))
    for col in ("symbol", "ts", "t1", "label", "ret"):
        assert a.column(col).equals(b.column(col)), col
    # and the bar at t itself (its high/low) never decides the label at t
    hi = bars.column("high").to_numpy().copy()
    hi[tsb == cut] *= 3
    c = make_labels(bars.set_column(bars.schema.get_field_index("high"), "high", pa.array(hi)), cfg)
    at = lambda t: t.filter(pc.equal(t.column("ts").cast(pa.int64()), cut))  # noqa: E731
    assert at(c).column("label").equals(at(base).column("label"))


def test_uniqueness_weights_match_brute_force():
    rng = np.random.default_rng(0)
    sym = np.array(["A", "B"])[rng.integers(0, 2, 200)]
    ts = rng.integers(0, 100, 200) * M
    t1 = ts + rng.integers(1, 6, 200) * M
    w = uniqueness_weights(sym, ts, t1)
    for i in range(0, 200, 7):
        mins = np.arange(ts[i] // M + 1, t1[i] // M + 1)
        same = sym == sym[i]
        conc = [((ts[same] // M < m) & (t1[same] // M >= m)).sum() for m in mins]
        assert w[i] == pytest.approx(np.mean(1 / np.array(conc)))


@pytest.mark.parametrize("kind", ["triple_barrier", "fixed_horizon"])
def test_a_session_cut_short_labels_as_it_would_alone(kind):
    # day 1's feed stops at minute 200, day 2 is whole: labelling both at once must give day 1 exactly the
    # labels of day 1 alone (no window past its last bar), and day 2 its own
    cfg = LabelConfig(horizon=5, kind=kind, vol_halflife=10)
    d1 = bars_from(noisy(200, seed=1), day=dt.date(2026, 3, 3))
    d2 = bars_from(noisy(390, seed=2), day=dt.date(2026, 3, 4))
    both = make_labels(pa.concat_tables([d1, d2]), cfg)
    alone = pa.concat_tables([make_labels(d1, cfg), make_labels(d2, cfg)])
    last1 = bar_stamps(dt.date(2026, 3, 3))[199]
    for col in ("symbol", "ts", "t1", "label", "ret"):
        assert both.column(col).equals(alone.column(col)), col
    # uniqueness sums 1/concurrency along the symbol's whole span: the same terms, a longer prefix sum
    np.testing.assert_allclose(both.column("weight").to_numpy(), alone.column("weight").to_numpy(), rtol=1e-12)
    day1 = both.filter(pc.less_equal(both.column("ts").cast(pa.int64()), int(last1)))
    assert day1.column("t1").cast(pa.int64()).to_numpy().max() <= last1


def prints_moved(bars: pa.Table, seed: int) -> pa.Table:
    """``bars`` with every close moved anywhere within 1 % (high and low widened to hold it), the quotes kept."""
    c = bars.column("close").to_numpy() * np.random.default_rng(seed).uniform(0.99, 1.01, bars.num_rows)
    for k, v in (("close", c), ("high", np.maximum(bars.column("high").to_numpy(), c)),
                 ("low", np.minimum(bars.column("low").to_numpy(), c))):  # fmt: skip
        bars = bars.set_column(bars.schema.get_field_index(k), k, pa.array(v))
    return bars


def test_mid_labels_ignore_where_trades_print_and_follow_the_quotes():
    bars, _, _ = random_stream(3, days=1)
    cfg = LabelConfig(horizon=5, price="mid")
    base = make_labels(bars, cfg)
    assert base.num_rows > 200
    moved = prints_moved(bars, 1)  # the bounce: mid labels do not move
    assert make_labels(moved, cfg).equals(base)
    assert not make_labels(moved, LabelConfig(horizon=5)).equals(make_labels(bars, LabelConfig(horizon=5)))
    # the label is the sign of the mid's move to the barrier touched or to the vertical barrier (the symbol's last
    # bar at or before t1: a minute without a bar keeps the last mid)
    lab, df = base.to_pandas(), bars.to_pandas()
    df["mid"] = (df["bid"] + df["ask"]) / 2
    by = {s: g.sort_values("ts") for s, g in df[df["mid"].notna()].groupby("symbol")}

    def mid_at(s, t):
        g = by[s]
        return g["mid"].to_numpy()[np.searchsorted(g["ts"].astype("int64").to_numpy(), t.value, "right") - 1]

    m0 = np.array([mid_at(s, t) for s, t in zip(lab["symbol"], lab["ts"], strict=True)])
    m1 = np.array([mid_at(s, t) for s, t in zip(lab["symbol"], lab["t1"], strict=True)])
    np.testing.assert_allclose(lab["ret"], np.log(m1 / m0), rtol=1e-12)
    assert ((lab["ret"] > 0) == (lab["label"] == 1)).all()


def test_label_config_names_a_bad_field():
    with pytest.raises(ValueError, match="price"):
        LabelConfig(price="last")
    with pytest.raises(ValueError, match="kind"):
        LabelConfig(kind="triple")


def test_mid_labels_without_quotes_are_a_clear_error_and_a_day_without_them_has_none():
    bars, _, _ = random_stream(3, days=2)
    day = bars.column("ts").cast(pa.int64()).to_numpy() // (86_400 * 10**9)
    first = day == day.min()
    noq = bars
    for c in ("bid", "ask"):
        noq = noq.set_column(noq.schema.get_field_index(c), c, pa.nulls(noq.num_rows, pa.float64()))
    with pytest.raises(ValueError, match="none of these bars has a two-sided quote"):
        make_labels(noq, LabelConfig(price="mid"))
    assert make_labels(noq).num_rows > 0  # the close needs no quote
    # the first day without quotes: no labels on it, the second day's as if alone
    part = bars
    for c in ("bid", "ask"):
        v = bars.column(c).to_numpy(zero_copy_only=False).copy()
        v[first] = np.nan
        part = part.set_column(part.schema.get_field_index(c), c, pa.array(v, pa.float64(), mask=first))
    got = make_labels(part, LabelConfig(price="mid"))
    want = make_labels(bars.filter(pa.array(~first)), LabelConfig(price="mid"))
    assert got.num_rows == want.num_rows > 0
    for col in ("symbol", "ts", "t1", "label", "ret"):
        assert got.column(col).equals(want.column(col)), col
    assert make_labels(bars.slice(0, 0)).num_rows == 0


def test_the_traded_return_is_on_the_mid_when_quoted_and_on_the_close_without_quotes():
    """``forward_returns`` (IC and every backtest) never books where a trade printed when a mid exists."""
    bars, _, _ = random_stream(3, days=1)
    fwd = forward_returns(bars, 5)
    mid = make_labels(bars, LabelConfig(horizon=5, kind="fixed_horizon", price="mid"))
    assert fwd.column_names == ["symbol", "ts", "fwd"] and fwd.num_rows == mid.num_rows > 200
    np.testing.assert_array_equal(fwd.column("fwd").to_numpy(), mid.column("ret").to_numpy())
    moved = prints_moved(bars, 2)
    assert forward_returns(moved, 5).equals(fwd)  # the prints moved; what a taker books did not
    noq = moved
    for k in ("bid", "ask"):
        noq = noq.set_column(noq.schema.get_field_index(k), k, pa.nulls(noq.num_rows, pa.float64()))
    close = make_labels(moved, LabelConfig(horizon=5, kind="fixed_horizon"))
    np.testing.assert_array_equal(forward_returns(noq, 5).column("fwd").to_numpy(), close.column("ret").to_numpy())


def test_the_half_spread_is_a_fraction_of_the_mid_wherever_the_close_printed():
    """The cost a side is half the quoted spread over the mid, the price the traded return is booked on: a close
    printed at the ask must not change it."""
    b = bars_from([100.1, 99.9, 100.0])
    b = b.set_column(b.schema.get_field_index("bid"), "bid", pa.array([99.9, 99.9, np.nan]))
    b = b.set_column(b.schema.get_field_index("ask"), "ask", pa.array([100.1, 100.1, 100.1]))
    hs = half_spreads(b).column("half_spread").to_pylist()
    assert hs[0] == pytest.approx(0.001, rel=1e-12) and hs[1] == pytest.approx(0.001, rel=1e-12)
    assert hs[2] == hs[1]  # no two-sided quote: the last usable one's spread (a lost quote is not free trading)
    assert half_spreads(b).column("quoted").to_pylist() == [True, True, False]

"""Inputs beyond ticks reach the running scorer through topics of their own and land exactly as the batch path has
them: a halt (trading status) freezes a symbol from the next minute, a split announced for tomorrow is applied at
tomorrow's open, a live VIX value feeds mkt_vol; what cannot be applied exactly is dead-lettered with why."""

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from features.batch import fold
from features.engine import FeatureEngine
from marketdata.lake import Lake
from marketdata.pipeline import simulate_to_lake
from marketdata.simulator import SimConfig
from serving.app.loop import ScoringLoop
from serving.feed import tick_codec
from serving.io.online_store import InProcessOnlineStore
from serving.io.outputs import ListDeadLetters, Outputs
from serving.io.sinks import ListSink
from serving.io.sources import LakeTickSource, ListSource, Poll
from serving.step.ingest import Record, TickAssembler
from serving.step.scorer import Scorer

M = 60_000_000_000


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    lake = Lake(str(tmp_path_factory.mktemp("live") / "lake"))
    simulate_to_lake(SimConfig(symbols=30, days=2, seed=12, split_rate=0.05, dividend_rate=0.05), lake, ticks=True)
    return lake


def served_rows(engine, lake, extra: dict[int, list[Record]], vix_days=None):
    """Both sessions through the loop, in-process, with ``extra`` records sent before the given minute's poll."""
    scorer = Scorer(engine)
    outputs, dead = Outputs(ListSink(), InProcessOnlineStore(engine.version), lambda m: None), ListDeadLetters()
    rows = []
    outputs.observers.append(rows.append)
    for day in lake.dates("trades"):
        src = LakeTickSource(lake, day)
        polls = []
        for p in src.polls:
            if p.watermark is not None and p.watermark in extra:
                polls.append(Poll(extra[p.watermark]))
            polls.append(p)
        loop = ScoringLoop(ListSource(polls), TickAssembler(lateness_ns=0), scorer, outputs, dead)
        while not loop.source.exhausted:
            loop.poll_once()
    return rows, dead.letters, scorer


def table_of(rows) -> dict:
    return {(s, c.ts): r for c in rows for s, r in zip(c.symbols, c.rows, strict=True)}


def record(kind: str, table: pa.Table, offset: int = 0) -> Record:
    return Record(f"reference.{kind}", 0, offset, None, tick_codec.encode(kind, table))


def test_a_split_announced_the_day_before_is_applied_at_the_open(market):
    lake = market
    ca = lake.read("corporate_actions")
    d1, d2 = lake.dates("trades")
    split = ca.filter(pc.and_(pc.equal(ca.column("ex_date"), pa.scalar(d2, pa.date32())),
                              pc.not_equal(ca.column("split_ratio"), 1.0)))  # fmt: skip
    assert split.num_rows, "the simulated market needs a split on its second day"
    known = ca.filter(pc.invert(pc.is_in(ca.column("symbol"), value_set=split.column("symbol"))))
    ref = lake.read("reference")
    bars = lake.read("bars_1m")
    offline, _ = fold(FeatureEngine(ref, ca), bars)  # the batch path, knowing every action
    noon = int(lake.read("bars_1m", [d1]).column("ts").cast(pa.int64()).to_numpy()[0]) + 120 * M
    late = pa.table({"symbol": [split.column("symbol")[0].as_py()], "ex_date": pa.array([d1], pa.date32()),
                     "split_ratio": [3.0], "cash_dividend": [0.0]})  # fmt: skip
    announce = {noon: [record("actions", split.select(["symbol", "ex_date", "split_ratio", "cash_dividend"])),
                       record("actions", late, 1)]}  # fmt: skip
    rows, dead, scorer = served_rows(FeatureEngine(ref, known), lake, announce)
    assert [d.reason.split(":")[0] for d in dead] == [f"ex-date {d1} has begun"]  # today's: cannot be exact
    assert dead[0].index == 0 and dead[0].tick["split_ratio"] == 3.0
    got = table_of(rows)
    names = offline.column_names[2:]
    want = np.column_stack([offline.column(n).to_numpy(zero_copy_only=False) for n in names]).astype(np.float32)
    keys = zip(offline.column("symbol").to_pylist(), offline.column("ts").cast(pa.int64()).to_pylist(), strict=True)
    served = np.stack([got[k] for k in keys])
    np.testing.assert_array_equal(served, want)  # the split symbols' day 2 too: scaled at the open, as offline
    unannounced, _, _ = served_rows(FeatureEngine(ref, known), lake, {})
    without = table_of(unannounced)  # once: rebuilt per key it took minutes
    assert not np.array_equal(np.stack([without[k] for k in got]), np.stack(list(got.values())))
    assert scorer.live_actions and scorer.state()[1]["live_actions"] == scorer.live_actions


def test_live_vix_values_feed_mkt_vol_and_late_or_unused_ones_are_refused(market):
    lake = market
    ref, ca = lake.read("reference"), lake.read("corporate_actions")
    stamps = np.unique(lake.read("bars_1m").column("ts").cast(pa.int64()).to_numpy())
    vix_ts = stamps[::7] - M // 2  # a print every 7 minutes, between minutes
    vix = pa.table(
        {"ts": pa.array(vix_ts).cast(pa.timestamp("ns", "UTC")), "value": 15 + 5 * np.sin(np.arange(len(vix_ts)))}
    )
    offline, _ = fold(FeatureEngine(ref, ca, vix=vix), lake.read("bars_1m"))
    start = vix.slice(0, 3)  # what the lake held at start; the rest arrives live, each print before its minute
    live = pa.table({"ts": pa.array(vix_ts[3:]), "value": vix.column("value").to_numpy()[3:]})
    extra: dict[int, list[Record]] = {}
    for i, t in enumerate(live.column("ts").to_numpy()):
        extra.setdefault(int((t // M + 1) * M), []).append(record("vix", live.slice(i, 1), i))
    late_at = int(stamps[200])
    extra.setdefault(late_at, []).append(record("vix", pa.table({"ts": [int(stamps[10])], "value": [30.0]}), 999))
    rows, dead, scorer = served_rows(FeatureEngine(ref, ca, vix=start), lake, extra)
    assert [d.offset for d in dead] == [999] and "at or before" in dead[0].reason
    got = table_of(rows)
    col = offline.column_names.index("mkt_vol") - 2
    keys = zip(offline.column("symbol").to_pylist(), offline.column("ts").cast(pa.int64()).to_pylist(), strict=True)
    np.testing.assert_array_equal(
        np.array([got[k][col] for k in keys]), offline.column("mkt_vol").to_numpy().astype(np.float32)
    )
    arrays, meta = scorer.state()
    again = Scorer(FeatureEngine(ref, ca, vix=start))
    again.restore(dict(arrays), meta)  # the live values survive a restart
    assert len(again.engine.vix.ts) == len(vix_ts)
    _, refused, _ = served_rows(FeatureEngine(ref, ca), lake, {int(stamps[5]): [record("vix", live.slice(0, 1))]})
    assert len(refused) == 1 and "SPY" in refused[0].reason  # this feature set has no VIX to feed


def test_halts_arrive_as_trading_status_and_freeze_the_symbol_as_offline(market):
    lake = market
    assert lake.exists("halts"), "the simulated market needs a halt"
    ref, ca = lake.read("reference"), lake.read("corporate_actions")
    offline, _ = fold(FeatureEngine(ref, ca), lake.read("bars_1m"))
    rows, dead, _ = served_rows(FeatureEngine(ref, ca), lake, {})
    assert not dead
    got = table_of(rows)
    halted = lake.read("bars_1m").filter(pc.field("halted"))
    assert halted.num_rows > 0
    names = offline.column_names[2:]
    keys = list(
        zip(offline.column("symbol").to_pylist(), offline.column("ts").cast(pa.int64()).to_pylist(), strict=True)
    )
    want = np.column_stack([offline.column(n).to_numpy(zero_copy_only=False) for n in names]).astype(np.float32)
    np.testing.assert_array_equal(np.stack([got[k] for k in keys]), want)
    assert dt.date.today() is not None


def test_a_symbol_halted_twice_in_a_day_reads_as_two_halts_on_the_status_feed():
    """The day's halts replayed as status rows (as the lake replay and the publisher send them) mark the same
    minutes as the intervals themselves: the second halt's start does not stretch the first one to its end."""
    from marketdata.aggregate import BarAggregator
    from marketdata.schemas import HALTS

    t0 = np.datetime64("2026-03-02T14:30", "ns").astype(np.int64)
    minute = 60_000_000_000
    halts = pa.table(
        {
            "symbol": ["AAA", "AAA"],
            "start": pa.array([t0 + 2 * minute + 15, t0 + 30 * minute], pa.int64()).cast(HALTS.field("start").type),
            "end": pa.array([t0 + 4 * minute, t0 + 31 * minute], pa.int64()).cast(HALTS.field("end").type),
            "reason": ["T1", "LUDP"],
        },
        schema=HALTS,
    )
    ts = t0 + np.arange(40) * minute + 1
    trades = pa.table(
        {"symbol": ["AAA"] * 40, "ts": pa.array(ts, pa.int64()), "seq": np.arange(40), "price": np.full(40, 10.0)}
    )
    cols = {
        "ts": ts,
        "seq": np.arange(40),
        "price": np.full(40, 10.0),
        "size": np.ones(40),
        "correction": np.zeros(40, np.int64),
    }

    def halted_minutes(feed_status: bool) -> list[int]:
        agg = BarAggregator()
        if feed_status:
            st = tick_codec.halts_to_status(halts)
            agg.add_status(agg.codes(st.column("symbol")), st.column("ts").to_numpy(), st.column("halted").to_numpy())
        else:
            agg.add_halts(halts)
        agg.fold("trades", agg.codes(trades.column("symbol")), cols)
        bars = agg.finalize(int(t0 + 41 * minute))
        end = bars.filter(bars.column("halted")).column("ts").cast(pa.int64()).to_numpy()
        return ((end - t0) // minute).tolist()

    assert halted_minutes(True) == halted_minutes(False) == [3, 4, 31]

"""Bad input never crashes the scorer, is never dropped silently, and never changes the good stream's signals."""

import json
import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.engine import FeatureEngine
from marketdata.lake import Lake
from marketdata.pipeline import simulate_to_lake
from marketdata.simulator import SimConfig
from serving import tick_codec
from serving.ingest import Record, RecordProcessor
from serving.online_store import InProcessOnlineStore
from serving.scorer import Scorer
from serving.sinks import ListSink

M = 60_000_000_000


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("dlq") / "lake")
    simulate_to_lake(SimConfig(symbols=14, days=1, seed=5), Lake(root), ticks=True)
    lake = Lake(root)
    day = lake.dates("trades")[0]
    trades = lake.read("trades", [day]).sort_by("ts")
    cut = trades.column("ts")[0].value + 20 * M  # the first 20 minutes of the session
    trades = trades.filter(pa.compute.less(trades.column("ts").cast(pa.int64()), cut))
    end = trades.column("ts")[-1]
    quotes = lake.read("quotes", [day]).sort_by("ts")
    quotes = quotes.filter(pa.compute.less_equal(quotes.column("ts"), end))
    recs = []
    for topic, kind, t in (("ticks.trades", "trades", trades), ("ticks.quotes", "quotes", quotes)):
        for k, v in tick_codec.encode_rows(kind, t):
            recs.append((json.loads(v)["ts"], topic, k, v))
    recs.sort(key=lambda r: r[0])
    good = [Record(topic, 0, i, k, v) for i, (_, topic, k, v) in enumerate(recs)]
    universe = set(lake.read("reference").column("symbol").to_pylist())
    return lake, good, universe, int(end.value)


def run(lake, records, universe, end):
    engine = FeatureEngine(lake.read("reference"), lake.read("corporate_actions"))
    scorer = Scorer(engine, InProcessOnlineStore(engine.version), ListSink())
    proc = RecordProcessor(scorer, universe)
    dead = []
    for i in range(0, len(records), 2000):
        _, d = proc.process(records[i : i + 2000])
        dead.extend(d)
    proc.flush((end // M + 1) * M)
    return scorer.sink.table(), dead, proc


bad_values = st.one_of(
    st.binary(max_size=40),
    st.just(b"{not json"),
    st.builds(
        lambda f: json.dumps({"symbol": "SPY", "ts": 1, "price": f, "size": 1, "seq": 1}).encode(),
        st.sampled_from([0.0, -1.0, "x", None]),
    ),
    st.builds(lambda f: json.dumps({"symbol": "SPY", "price": 1.0, "size": 1.0, "seq": f}).encode(), st.integers()),
    st.builds(
        lambda s: json.dumps({"symbol": s, "ts": 1, "price": 1.0, "size": 1.0, "seq": 5}).encode(),
        st.text(min_size=1, max_size=6),
    ),
)


@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(seed=st.integers(0, 2**31 - 1), bad=st.lists(bad_values, min_size=50, max_size=50))
def test_ten_thousand_bad_ticks_leave_good_signals_unchanged(stream, seed, bad):
    lake, good, universe, end = stream
    clean, dead0, _ = run(lake, good, universe, end)
    assert not dead0 and clean.num_rows >= 14 * 19
    rng = np.random.default_rng(seed)
    first_ts = json.loads(good[0].value)["ts"]
    n_bad = 10_000
    pos = np.sort(rng.integers(len(good) // 10, len(good), n_bad))
    junk = []
    for i in range(n_bad):
        kind = i % 8
        if kind == 0:
            v = bad[i % len(bad)]
        elif kind == 1:  # NaN / zero / negative price: JSON cannot carry NaN, so strings and signs do
            v = json.dumps(
                {
                    "symbol": "SPY",
                    "ts": first_ts,
                    "price": float(rng.choice([0.0, -3.0])),
                    "size": 1.0,
                    "seq": 10**9 + i,
                }
            ).encode()
        elif kind == 2:  # crossed quote
            v = json.dumps(
                {
                    "symbol": "SPY",
                    "ts": first_ts,
                    "bid": 10.0,
                    "ask": 9.0,
                    "bid_size": 1.0,
                    "ask_size": 1.0,
                    "seq": 10**9 + i,
                }
            ).encode()
        elif kind == 3:  # duplicate of a good tick already delivered
            v = good[rng.integers(pos[i])].value
        elif kind == 4:  # unknown symbol
            v = json.dumps({"symbol": "NOPE", "ts": first_ts, "price": 1.0, "size": 1.0, "seq": i}).encode()
        elif kind == 5:  # far future: decades past the wall clock
            v = json.dumps(
                {"symbol": "SPY", "ts": first_ts + 10**18, "price": 1.0, "size": 1.0, "seq": 10**9 + i}
            ).encode()
        elif kind == 6:  # missing field
            v = json.dumps({"symbol": "SPY", "price": 1.0}).encode()
        else:  # late: far behind any watermark
            v = json.dumps(
                {"symbol": "SPY", "ts": first_ts - 3600 * 10**9, "price": 100.0, "size": 1.0, "seq": 10**9 + i}
            ).encode()
        topic = "ticks.quotes" if kind == 2 else "ticks.trades"
        junk.append(Record(topic, 1, 10**6 + i, b"x", v))
    # mix: junk inserted at random positions (after the first minute so 'late' is late and duplicates duplicate)
    mixed = list(good)
    for p, j in zip(pos[::-1], junk[::-1], strict=True):
        mixed.insert(int(p), j)
    dirty, dead, proc = run(lake, mixed, universe, end)
    assert dirty.equals(clean)
    assert len(dead) == n_bad  # every bad tick accounted for, none silently dropped
    assert all(d.reason for d in dead)
    assert sum(proc.counts.values()) == n_bad
    assert {d.partition for d in dead if d.offset >= 0} == {1}
    assert not any(math.isnan(x) for x in dirty.column("p_up").to_numpy())

"""Bad input never crashes the scorer, is never dropped silently, and never changes the good stream's signals.

The stream is what feed adapters send: batches of ticks per message (serving.feed.tick_codec). A bad tick inside a batch
is dead-lettered alone, with its index; the rest of its batch lands. A message that cannot be read is dead-lettered
whole."""

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.engine import FeatureEngine
from marketdata.lake import Lake
from marketdata.pipeline import simulate_to_lake
from marketdata.simulator import SimConfig
from serving.app.loop import ScoringLoop
from serving.feed import tick_codec
from serving.io.online_store import InProcessOnlineStore
from serving.io.outputs import ListDeadLetters, Outputs
from serving.io.sinks import ListSink
from serving.io.sources import ListSource, Poll
from serving.step.ingest import Record, TickAssembler
from serving.step.scorer import Scorer

M = 60_000_000_000
BATCH = 40  # ticks per message


def rows_of(table: pa.Table, kind: str) -> list[dict]:
    t = table.select([f.name for f in tick_codec.WIRE[kind] if f.name in table.column_names])
    t = t.set_column(1, "ts", t.column("ts").cast(pa.int64()))
    return t.to_pylist()


def message(kind: str, rows: list[dict]) -> bytes:
    return tick_codec.encode(kind, pa.Table.from_pylist(rows, schema=tick_codec.WIRE[kind]))


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
    ticks = [(r["ts"], "trades", r) for r in rows_of(trades, "trades")]
    ticks += [(r["ts"], "quotes", r) for r in rows_of(quotes, "quotes")]
    ticks.sort(key=lambda t: t[0])
    universe = set(lake.read("reference").column("symbol").to_pylist())
    return lake, ticks, universe, int(end.value)


@pytest.fixture(scope="module")
def clean_run(stream):
    """The good stream's messages, encoded once, and the signals it serves (the same for every example)."""
    lake, ticks, universe, end = stream
    good = batches(ticks)
    encoded = [(k, message(k, rows)) for k, rows in good]
    clean, dead0, _ = run(lake, encoded, universe, end)
    assert not dead0 and clean.num_rows >= 14 * 19
    return good, encoded, clean


def batches(ticks: list[tuple[int, str, dict]]) -> list[tuple[str, list[dict]]]:
    """Consecutive ticks of one kind, BATCH at most per message (arrival order kept)."""
    out: list[tuple[str, list[dict]]] = []
    for _, kind, row in ticks:
        if not out or out[-1][0] != kind or len(out[-1][1]) >= BATCH:
            out.append((kind, []))
        out[-1][1].append(row)
    return out


def run(lake, msgs: list[tuple[str, bytes]], universe, end):
    engine = FeatureEngine(lake.read("reference"), lake.read("corporate_actions"))
    scorer = Scorer(engine)
    sink, dead = ListSink(), ListDeadLetters()
    outputs = Outputs(sink, InProcessOnlineStore(engine.version), lambda m: None)
    records = [Record(f"ticks.{kind}", 0, i, None, v) for i, (kind, v) in enumerate(msgs)]
    polls = [Poll(records[i : i + 50]) for i in range(0, len(records), 50)]
    assembler = TickAssembler(universe)
    loop = ScoringLoop(ListSource(polls), assembler, scorer, outputs, dead)
    while not loop.source.exhausted:
        loop.poll_once()
    loop.finish((end // M + 1) * M)
    return sink.table(), dead.letters, assembler


junk_messages = st.one_of(
    st.binary(max_size=40),
    st.just(b"{not arrow"),
    st.just(
        tick_codec.encode(
            "quotes",
            pa.table(
                {
                    "symbol": ["SPY"],
                    "ts": [1],
                    "bid": [1.0],
                    "ask": [2.0],
                    "bid_size": [1.0],
                    "ask_size": [1.0],
                    "seq": [1],
                }
            ),
        )
    ),  # on trades
    st.builds(
        lambda n: pa.ipc.new_stream(pa.BufferOutputStream(), pa.schema([("x", pa.int8())])) and b"\xff" * n,
        st.integers(0, 30),
    ),
)


@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(seed=st.integers(0, 2**31 - 1), junk=st.lists(junk_messages, min_size=20, max_size=20))
def test_ten_thousand_bad_ticks_leave_good_signals_unchanged(stream, clean_run, seed, junk):
    lake, ticks, universe, end = stream
    good, encoded, clean = clean_run
    rng = np.random.default_rng(seed)
    first = ticks[0][2]["ts"]
    n_bad = 10_000
    mixed = [(k, list(rows)) for k, rows in good]
    hosts = np.sort(rng.integers(len(mixed) // 10, len(mixed), n_bad))  # after the first minute: late is late
    expected: list[tuple[int, str]] = []  # (message, reason prefix) per bad tick
    for i, h in enumerate(hosts):
        kind, rows = mixed[h]
        bad = dict(rows[0])
        what = i % 10
        if what == 0:
            bad.update(price=float(rng.choice([0.0, -3.0])), seq=10**9 + i) if kind == "trades" else bad.update(
                bid=10.0, ask=9.0, seq=10**9 + i
            )
            why = "non-positive or NaN price" if kind == "trades" else "crossed quote (bid > ask)"
        elif what == 1:  # the host's own first tick, repeated after it (a resend)
            why = "duplicate (symbol, seq)"
        elif what == 2:
            bad.update(symbol="NOPE")
            why = "unknown symbol"
        elif what == 3:
            bad.update(ts=first + 10**18, seq=10**9 + i)
            why = "far-future timestamp"
        elif what == 4:
            bad.update(ts=None)
            why = "missing field 'ts'"
        elif what == 5:
            bad.update(ts=first - 3600 * 10**9, seq=10**9 + i)
            why = "event time behind watermark"
        elif what == 6:
            bad.update(symbol="")
            why = "field 'symbol' must be a non-empty string"
        elif what == 7:
            field = "size" if kind == "trades" else "bid_size"
            bad.update({field: float(rng.choice([np.inf, np.nan])), "seq": 10**9 + i})
            why = f"field {field!r} must be a finite number"
        elif what == 8:
            field = "price" if kind == "trades" else "ask"
            bad.update({field: None})
            why = f"missing field {field!r}"
        else:
            bad.update(seq=None)
            why = "missing field 'seq'"
        rows.insert(int(rng.integers(1, len(rows) + 1)), bad)  # never first: the duplicate follows its original
        expected.append((h, why))
    touched = set(hosts.tolist())  # the other messages are the clean run's, encoded once
    msgs = [(k, message(k, rows)) if i in touched else encoded[i] for i, (k, rows) in enumerate(mixed)]
    at = sorted(rng.integers(0, len(msgs), len(junk)))
    for p, j in zip(at[::-1], junk[::-1], strict=True):
        msgs.insert(int(p), ("trades", j))
    dirty, dead, assembler = run(lake, msgs, universe, end)
    assert dirty.equals(clean)  # the good ticks of every mixed message landed, none of the bad
    whole = [d for d in dead if d.index is None]
    single = [d for d in dead if d.index is not None]
    assert len(whole) == len(junk) and all(d.reason for d in whole)
    assert len(single) == n_bad  # every bad tick accounted for, alone, none silently dropped
    got = sorted(d.reason for d in single)
    assert got == sorted(w for _, w in expected)
    assert sum(assembler.counts.values()) == n_bad + len(junk)
    assert all(d.tick is not None and d.tick.get("symbol") is not None for d in single)

"""The Flink job's bars equal the Python aggregator's bar for bar, and it refuses the same ticks for the same reasons.

Bounded runs on a real local Flink mini-cluster (the job's own jar; skipped without java and mvn): a simulated
session made messy — arrival order shuffled, repeated ``(symbol, seq)`` with other prices, corrections, bad
prices and sizes, crossed and one-sided quotes, quote-only minutes, halts with and without trades, a symbol
halted before its first print — and the real TAQ sample when ``../shared/data`` has it.
"""

import datetime as dt
import shutil
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from marketdata import loaders
from marketdata.aggregate import aggregate
from marketdata.schemas import HALTS, NS_PER_MIN
from marketdata.simulator import MarketSimulator, SimConfig
from marketdata.ticks import ticks_for_day
from tests.conftest import TAQ_RAW_TZ, shared_data

pytestmark = pytest.mark.skipif(
    shutil.which("java") is None or shutil.which("mvn") is None, reason="the Flink job needs java and mvn"
)


def _set(table: pa.Table, name: str, rows: np.ndarray, value: float) -> pa.Table:
    col = table.column(name).to_numpy(zero_copy_only=False).copy()
    col[rows] = value
    i = table.column_names.index(name)
    return table.set_column(i, name, pa.array(col, table.schema.field(name).type))


def messy_session() -> tuple[pa.Table, pa.Table, pa.Table]:
    sim = MarketSimulator(SimConfig(symbols=16, days=1, seed=11))
    day = next(iter(sim.days()))
    rng = np.random.default_rng(4)
    trades, quotes = ticks_for_day(day, rng)
    t0 = trades.column("ts").cast(pa.int64()).to_numpy()[0] // NS_PER_MIN * NS_PER_MIN
    names = sorted(set(trades.column("symbol").to_pylist()))
    a, b, c = names[0], names[1], names[2]

    # quote-only minutes: symbol a prints nothing in minutes 10..19, and c nothing before minute 30
    ts = trades.column("ts").cast(pa.int64()).to_numpy()
    sym = np.array(trades.column("symbol").to_pylist(), dtype=object)
    minute = (ts - t0) // NS_PER_MIN
    keep = ~(((sym == a) & (minute >= 10) & (minute < 20)) | ((sym == c) & (minute < 30)))
    trades = trades.filter(pa.array(keep))

    n = trades.num_rows
    trades = trades.set_column(trades.column_names.index("correction"), "correction", pa.array(np.zeros(n, np.int8)))
    trades = _set(trades, "correction", rng.choice(n, 40, replace=False), 1)
    trades = _set(trades, "price", rng.choice(n, 10, replace=False), 0.0)
    trades = _set(trades, "price", rng.choice(n, 5, replace=False), -1.5)
    trades = _set(trades, "size", rng.choice(n, 10, replace=False), 0.0)
    # repeats of (symbol, seq) at other prices, arriving after the original
    rep = trades.take(pa.array(rng.choice(n, 60, replace=False)))
    rep = rep.set_column(rep.column_names.index("price"), "price", pc.multiply(rep.column("price"), 1.01))
    trades = pa.concat_tables([trades, rep])
    # arrival order: shuffled within blocks of ~200 prints (out of order, repeats wherever they land)
    order = np.argsort(np.arange(trades.num_rows) + rng.uniform(0, 200, trades.num_rows))
    trades = trades.take(pa.array(order))

    m = quotes.num_rows
    quotes = _set(quotes, "bid", rng.choice(m, 20, replace=False), 0.0)
    crossed = rng.choice(m, 20, replace=False)
    quotes = _set(quotes, "bid", crossed, 1e6)
    quotes = _set(quotes, "ask_size", rng.choice(m, 10, replace=False), -100.0)
    qrep = quotes.take(pa.array(rng.choice(m, 40, replace=False)))
    quotes = pa.concat_tables([quotes, qrep])
    quotes = quotes.take(pa.array(np.argsort(np.arange(quotes.num_rows) + rng.uniform(0, 200, quotes.num_rows))))

    def at(k: float) -> int:
        return int(t0 + k * NS_PER_MIN)

    halts = pa.table(
        {
            "symbol": [a, b, c, b],
            "start": [at(12.5), at(40.25), at(5), at(100)],  # a: over quote-only minutes -> flat bars
            "end": [at(15.0), at(43.5), at(8), at(100.1)],  # c: before its first print -> no bar at all
            "reason": ["T1", "LUDP", "T1", "LUDP"],
        }
    )
    halts = pa.table(
        {
            "symbol": halts.column("symbol"),
            "start": halts.column("start").cast(pa.timestamp("ns", tz="UTC")),
            "end": halts.column("end").cast(pa.timestamp("ns", tz="UTC")),
            "reason": halts.column("reason"),
        },
        schema=HALTS,
    )
    return trades, quotes, halts


def refused(rejects: pa.Table) -> Counter:
    cols = [rejects.column(k).to_pylist() for k in ("source", "symbol", "ts", "seq", "reason")]
    return Counter(zip(*cols, strict=True))


@pytest.fixture(scope="module")
def messy():
    from serving import flink

    trades, quotes, halts = messy_session()
    ref_bars, ref_rejects = aggregate(trades, quotes, halts)
    run = flink.bars(trades, quotes, halts, parallelism=2)
    return ref_bars, ref_rejects, run


def test_bars_equal_the_python_aggregator_bar_for_bar(messy):
    ref, _, run = messy
    assert run.bars.num_rows == ref.num_rows > 0
    for name in ref.column_names:
        assert run.bars.column(name).equals(ref.column(name)), name
    # the session really had what it claims: flat halted bars, halted bars with prints, quote-only minutes
    halted = ref.filter(ref.column("halted"))
    assert pc.sum(pc.equal(halted.column("trades"), 0)).as_py() > 0
    assert pc.sum(pc.greater(halted.column("trades"), 0)).as_py() > 0


def test_the_same_ticks_are_refused_for_the_same_reasons(messy):
    _, ref, run = messy
    assert refused(run.rejects) == refused(ref)
    reasons = set(ref.column("reason").to_pylist())
    assert {"duplicate (symbol, seq)", "corrected or cancelled by the source", "crossed quote (bid > ask)"} <= reasons
    assert {"non-positive or NaN price", "non-positive or NaN size", "negative or NaN size"} <= reasons


def test_real_taq_ticks_give_the_same_bars():
    from serving import flink

    d = shared_data("taq-highfrequency")
    cols = {"ts": "DT", "symbol": "SYMBOL", "price": "PRICE", "size": "SIZE", "exchange": "EX", "correction": "CORR"}
    trades = loaders.load(str(d / "trades_raw_XXX_2018-01-02_03.parquet"), "trades", cols, tz=TAQ_RAW_TZ)
    raw_q = loaders.read_any(str(d / "quotes_raw_XXX_2018-01-02_03.parquet"))
    quotes = loaders.from_table(
        raw_q, "quotes", {"ts": "DT", "ask": "OFR", "bid_size": "BIDSIZ", "ask_size": "OFRSIZ"}, tz=TAQ_RAW_TZ
    )
    nbbo = loaders.consolidate_nbbo(quotes, raw_q.column("EX"))
    ref, ref_rejects = aggregate(trades, nbbo)
    run = flink.bars(trades, nbbo)
    assert run.bars.num_rows == ref.num_rows > 500
    assert run.bars.equals(ref)
    assert refused(run.rejects) == refused(ref_rejects)
    assert run.bars.column("ts")[0].as_py().date() == dt.date(2018, 1, 2)

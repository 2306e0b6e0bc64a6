"""The event-time watermark follows the slowest tick partition; a feed adapter's ``tickwise-through`` word (with an
empty batch when a partition has nothing new) moves a quiet partition on, so it does not hold the minute back."""

import pyarrow as pa

from serving.feed import tick_codec
from serving.io import kafka_io
from serving.step.ingest import Record, TickAssembler

M = 60_000_000_000
T0 = 1_772_461_800_000_000_000  # a minute boundary


def trades(symbol: str, *ts: int) -> bytes:
    n = len(ts)
    return tick_codec.encode("trades", pa.table({
        "symbol": [symbol] * n, "ts": pa.array(list(ts), pa.int64()).cast(pa.timestamp("ns", "UTC")),
        "price": [10.0] * n, "size": [100.0] * n, "seq": list(range(1, n + 1)), "correction": [0] * n,
    }))  # fmt: skip


def test_a_quiet_partition_holds_the_minute_until_its_feed_says_it_has_nothing():
    asm = TickAssembler(lateness_ns=0)
    asm.assign({("ticks.trades", 0), ("ticks.trades", 1)})
    busy = Record("ticks.trades", 0, 0, None, trades("AAA", T0 + 1, T0 + M + 5))
    quiet = Record("ticks.trades", 1, 0, None, trades("BBB", T0 + 2))
    closed, dead = asm.process([busy, quiet])
    assert not dead and not [c for c in closed if c.bars.num_rows]  # partition 1 has not passed the minute
    empty = tick_codec.encode("trades", pa.table({f.name: pa.array([], f.type) for f in tick_codec.WIRE["trades"]}))
    word = Record("ticks.trades", 1, 1, None, empty, through=T0 + M + 10)
    closed, dead = asm.process([word])
    assert not dead
    bars = pa.concat_tables([c.bars for c in closed])
    assert sorted(bars.column("symbol").to_pylist()) == ["AAA", "BBB"]  # the first minute closed, both names in it


def test_the_through_header_round_trips_and_is_absent_otherwise():
    assert kafka_io.through_of(kafka_io.through_header(T0 + 7)) == T0 + 7
    assert kafka_io.through_of(None) == 0 and kafka_io.through_of([("other", b"x")]) == 0

"""The scorer's bars source on the real broker: Flink's batches (one per minute and subtask, headers saying how far
each subtask has got) become each minute's whole cross-section exactly once, and a restart from a checkpoint's
position reads again exactly what that checkpoint's state does not hold."""

import time
import uuid

import pyarrow as pa
import pyarrow.compute as pc

from marketdata.schemas import NS_PER_MIN
from serving.io import kafka_io
from serving.io.kafka_sources import KafkaBarsSource
from tests.serving.helpers import bar_batch, bar_headers

T0 = 1_700_000_040 * 10**9 // NS_PER_MIN * NS_PER_MIN


def bars(minute: int, symbols: list[str]) -> pa.Table:
    from marketdata.schemas import BARS_1M, TS

    n = len(symbols)
    cols = {f.name: pa.array([1.0] * n, f.type) for f in BARS_1M if f.type == pa.float64()}
    cols |= {"symbol": pa.array(symbols), "ts": pa.array([minute] * n, pa.int64()).cast(TS)}
    cols |= {"trades": pa.array([1] * n, pa.int32()), "halted": pa.array([False] * n)}
    return pa.table(cols).select(BARS_1M.names).cast(BARS_1M)


def send(prod, topic: str, minute: int, watermark: int, subtask: int, symbols: list[str]) -> None:
    t = bars(minute, symbols)
    prod.send(topic, bar_batch(t), headers=bar_headers(minute, watermark, subtask, 2, t.num_rows))


def drain(src: KafkaBarsSource, topic: str, read: int, timeout: float = 20.0) -> list:
    """Poll until the messages before offset ``read`` are read; what was handed on."""
    out, deadline = [], time.monotonic() + timeout
    while src._pos.get(f"{topic}:0", 0) < read and time.monotonic() < deadline:
        out += src.poll(100).closed
    assert src._pos.get(f"{topic}:0", 0) >= read, "the batches were not read in time"
    return out


def test_a_minute_is_handed_on_whole_once_every_subtask_has_passed_it(kafka_bootstrap):
    topic = f"bars-src-{uuid.uuid4().hex[:8]}"
    kafka_io.ensure_topics(kafka_bootstrap, [topic], partitions=1)
    prod = kafka_io.feed_producer(kafka_bootstrap)
    m1, m2, m3 = (T0 + i * NS_PER_MIN for i in range(1, 4))
    send(prod, topic, m1, m1, 0, ["AAA", "BBB"])
    send(prod, topic, m2, m2, 0, ["AAA"])  # subtask 0 is at m2; subtask 1 has said nothing: nothing is whole
    prod.flush()
    src = KafkaBarsSource(kafka_bootstrap, f"g-{topic}", topic)
    assert drain(src, topic, 2) == []

    send(prod, topic, m1, m1, 1, ["CCC"])  # subtask 1 closes m1: m1 is whole, m2 is not
    prod.flush()
    (got,) = drain(src, topic, 3)
    assert got.watermark == m1
    assert sorted(got.bars.column("symbol").to_pylist()) == ["AAA", "BBB", "CCC"]
    at = src.position()  # a checkpoint after m1: m2's batch must be read again after a restart

    prod.send(topic, bar_batch(bars(m2, [])), headers=bar_headers(m3, m3, 1, 2, 0))  # subtask 1: no bars, at m3
    send(prod, topic, m3, m3, 0, ["BBB"])
    prod.flush()
    closed = drain(src, topic, 5)
    assert [c.watermark for c in closed] == [m3]
    ts = closed[0].bars.column("ts").cast(pa.int64())
    assert pc.all(pc.greater(ts, m1)).as_py() and sorted(set(ts.to_pylist())) == [m2, m3]
    src.close()

    again = KafkaBarsSource(kafka_bootstrap, f"g2-{topic}", topic)
    again.seek(at)
    closed = drain(again, topic, 5)
    assert closed[-1].watermark == m3
    b = pa.concat_tables([c.bars for c in closed])
    b = b.filter(pc.greater(b.column("ts").cast(pa.int64()), m1))  # the scorer has m1 already: it skips it
    assert sorted(zip(b.column("symbol").to_pylist(), b.column("ts").cast(pa.int64()).to_pylist(), strict=True)) == [
        ("AAA", m2),
        ("BBB", m3),
    ]
    again.close()

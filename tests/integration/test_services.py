"""Against the real servers .ci/run starts: Redis and Apache Kafka (KRaft)."""

import uuid

import numpy as np
import pyarrow as pa
import pytest

from marketdata.aggregate import aggregate
from marketdata.schemas import NS_PER_MIN
from serving.io import kafka_io
from serving.io.online_store import InProcessOnlineStore, RedisOnlineStore

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("kind", ["redis", "inprocess"])
def test_online_store_is_event_time_monotonic(kind, redis_url):
    v = uuid.uuid4().hex[:8]
    store = RedisOnlineStore(redis_url, v) if kind == "redis" else InProcessOnlineStore(v)
    syms = [f"S{i}" for i in range(5000)]
    rows = np.random.default_rng(0).standard_normal((5000, 60)).astype(np.float32)
    assert store.write(syms, 200, rows) == 5000
    assert store.write(syms[:10], 100, rows[:10] + 1) == 0  # older: refused
    got = store.read(syms)
    assert got["S0"][0] == 200
    np.testing.assert_array_equal(got["S4999"][1], rows[4999])
    assert store.write(syms[:10], 300, rows[:10] + 1) == 10
    np.testing.assert_array_equal(store.read(["S3"])["S3"][1], rows[3] + 1)


def test_ticks_through_kafka_aggregate_to_the_batch_bars(kafka_bootstrap, tick_day, tmp_path):
    """Publish a simulated day's ticks as feed adapters do (batched per partition); a consumer group member that
    decodes and aggregates them live, with a watermark, finalizes exactly the bars the batch path computes from the
    same ticks."""
    from marketdata.lake import Lake
    from serving.step.ingest import Record, TickAssembler
    from tickwise.tools.publish import publish_day

    day, trades, quotes = tick_day
    trades = trades.slice(0, 30_000)
    cutoff = trades.column("ts")[-1]
    quotes = quotes.filter(pa.compute.less_equal(quotes.column("ts"), cutoff))
    lake = Lake(str(tmp_path / "lake"))
    lake.write("trades", trades)
    lake.write("quotes", quotes)
    prefix = f"t{uuid.uuid4().hex[:6]}"
    kafka_io.ensure_topics(kafka_bootstrap, [f"{prefix}.trades", f"{prefix}.quotes", f"{prefix}.status"], partitions=3)
    publish_day(lake, day.date, kafka_bootstrap, speed=0, prefix=prefix, batch_ms=250)
    cons = kafka_io.consumer(
        kafka_bootstrap, f"{prefix}.trades", f"{prefix}.quotes", group=f"g{uuid.uuid4().hex[:6]}",
        consumer_timeout_ms=5000,
    )  # fmt: skip
    kinds = {f"{prefix}.trades": "trades", f"{prefix}.quotes": "quotes"}
    assembler = TickAssembler(kinds=kinds, lateness_ns=2_000_000_000)
    assembler.assign({(t, p) for t in kinds for p in range(3)})  # as the source's rebalance listener says
    closed, dead = [], []
    for msg in cons:
        got = assembler.process([Record(msg.topic, msg.partition, msg.offset, msg.key, msg.value)])
        closed += got[0]
        dead += got[1]
    cons.close()
    assert assembler.ticks == trades.num_rows + quotes.num_rows and not dead
    end = (int(trades.column("ts").cast(pa.int64()).to_numpy().max()) // NS_PER_MIN + 1) * NS_PER_MIN
    closed += assembler.flush(end)
    live = pa.concat_tables([c.bars for c in closed])
    batch, _ = aggregate(trades, quotes)
    assert live.equals(batch)


def test_the_signal_sink_creates_its_topic_before_the_first_send_and_skips_minutes_already_on_it(kafka_bootstrap):
    """Else the first send finds no topic: the client logs an ERROR and the broker auto-creates it on its defaults.
    A sink started again (a restarted scorer) leaves the minutes already on the topic alone."""
    from serving.io.sinks import KafkaSignalSink, from_ipc
    from serving.step.scorer import CycleResult

    topic = f"signals.{uuid.uuid4().hex[:6]}"
    admin = kafka_io.KafkaAdminClient(bootstrap_servers=kafka_bootstrap, api_version=kafka_io.API_VERSION)
    try:
        assert topic not in admin.list_topics()
        sink = KafkaSignalSink(kafka_bootstrap, topic)
        assert topic in admin.list_topics()
    finally:
        admin.close()

    def cycle(ts: int) -> CycleResult:
        return CycleResult(ts, ["SPY"], np.array([0.5 + ts / 100]), "model", "1")

    for ts in (7, 8):
        sink.publish(cycle(ts))
    assert sink.wait_delivered(8, timeout_s=10)
    again = KafkaSignalSink(kafka_bootstrap, topic)
    assert again.skip_through == 8
    for ts in (8, 9):
        again.publish(cycle(ts))
    again.flush()
    c = kafka_io.consumer(kafka_bootstrap, topic, group=None, consumer_timeout_ms=5_000)
    got = sorted((int(m.key), from_ipc(m.value).column("ts")[0].value) for m in c)
    c.close()
    assert got == [(7, 7), (8, 8), (9, 9)]

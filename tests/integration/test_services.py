"""Against the real servers .ci/run starts: Redis and Apache Kafka (KRaft)."""

import uuid

import numpy as np
import pyarrow as pa
import pytest

from marketdata.aggregate import BarAggregator, aggregate
from marketdata.schemas import NS_PER_MIN
from serving import kafka_io, tick_codec
from serving.online_store import InProcessOnlineStore, RedisOnlineStore

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


def test_ticks_through_kafka_aggregate_to_the_batch_bars(kafka_bootstrap, tick_day):
    """Produce a simulated day's ticks keyed by symbol; a consumer group member that aggregates them live, with
    a watermark, finalizes exactly the bars the batch path computes from the same ticks."""
    day, trades, quotes = tick_day
    sel = pa.array(np.isin(trades.column("symbol").to_numpy(zero_copy_only=False), ["SPY", "XLK", "XLF"]) == False)  # noqa: E712
    trades = trades.filter(sel).slice(0, 30_000)
    cutoff = trades.column("ts")[-1]
    quotes = quotes.filter(pa.compute.less_equal(quotes.column("ts"), cutoff))
    topic_t, topic_q = f"ticks.trades.{uuid.uuid4().hex[:6]}", f"ticks.quotes.{uuid.uuid4().hex[:6]}"
    kafka_io.ensure_topics(kafka_bootstrap, [topic_t, topic_q], partitions=3)
    prod = kafka_io.producer(kafka_bootstrap)
    for topic, kind, table in ((topic_t, "trades", trades), (topic_q, "quotes", quotes)):
        for k, v in tick_codec.encode_rows(kind, table):
            prod.send(topic, key=k, value=v)
    prod.send(topic_t, key=b"BAD", value=b"{not json")
    prod.flush()
    cons = kafka_io.consumer(
        kafka_bootstrap, topic_t, topic_q, group=f"g{uuid.uuid4().hex[:6]}", consumer_timeout_ms=5000
    )
    got = {"trades": [], "quotes": []}
    dead = []
    for msg in cons:
        kind = "trades" if msg.topic == topic_t else "quotes"
        try:
            got[kind].append(tick_codec.decode(kind, msg.value))
        except tick_codec.BadTick as e:
            dead.append((msg.topic, msg.partition, msg.offset, str(e)))
        if len(got["trades"]) == trades.num_rows and len(got["quotes"]) == quotes.num_rows and dead:
            break
    cons.close()
    assert len(got["trades"]) == trades.num_rows and len(got["quotes"]) == quotes.num_rows
    assert dead and dead[0][3].startswith("malformed payload")
    agg = BarAggregator()
    agg.add_trades(tick_codec.to_table("trades", got["trades"]))
    agg.add_quotes(tick_codec.to_table("quotes", got["quotes"]))
    end = (int(trades.column("ts").cast(pa.int64()).to_numpy().max()) // NS_PER_MIN + 1) * NS_PER_MIN
    live = agg.finalize(end)
    batch, _ = aggregate(trades, quotes)
    assert live.equals(batch)


def test_the_signal_sink_creates_its_topic_before_the_first_send(kafka_bootstrap):
    """Else the first send finds no topic: the client logs an ERROR and the broker auto-creates it on its defaults."""
    from serving.sinks import KafkaSignalSink, from_ipc

    topic = f"signals.{uuid.uuid4().hex[:6]}"
    admin = kafka_io.KafkaAdminClient(bootstrap_servers=kafka_bootstrap, api_version=kafka_io.API_VERSION)
    try:
        assert topic not in admin.list_topics()
        sink = KafkaSignalSink(kafka_bootstrap, topic)
        assert topic in admin.list_topics()
    finally:
        admin.close()
    sink.publish(7, pa.table({"ts": [7]}))
    sink.flush()
    c = kafka_io.consumer(kafka_bootstrap, topic, group=None, consumer_timeout_ms=10_000)
    got = [(int(m.key), from_ipc(m.value).column("ts")[0].as_py()) for m in c]
    c.close()
    assert got == [(7, 7)]

"""Against the real broker and Redis: a produced day is scored to the offline predictions; a restart from the
checkpoint serves the same signals; bad ticks land on ticks.dlq with their coordinates; two scorers in one group
(scale-out) serve together what one serves."""

import json
import time
import uuid

import numpy as np
import pyarrow as pa
import pytest

from features.engine import FeatureEngine
from marketdata.lake import Lake
from marketdata.pipeline import simulate_to_lake
from marketdata.simulator import SimConfig
from serving import kafka_io
from serving.ingest import RecordProcessor
from serving.kafka_loop import CheckpointStore, KafkaScorerLoop
from serving.model_runtime import ModelRuntime
from serving.online_store import RedisOnlineStore
from serving.publish import publish_day
from serving.safety import CircuitBreaker
from serving.scorer import Scorer
from serving.sinks import KafkaSignalSink, from_ipc
from tests.serving.helpers import offline_predictions, trained_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def world(tmp_path_factory, kafka_bootstrap, redis_url):
    root = str(tmp_path_factory.mktemp("kafka") / "lake")
    simulate_to_lake(SimConfig(symbols=16, days=1, seed=31), Lake(root), ticks=True)
    lake = Lake(root)
    engine = FeatureEngine(lake.read("reference"), lake.read("corporate_actions"))
    bars = lake.read("bars_1m")
    model = trained_model(bars, engine, rounds=20)
    prefix = f"t{uuid.uuid4().hex[:6]}"
    kafka_io.ensure_topics(kafka_bootstrap, [f"{prefix}.trades", f"{prefix}.quotes"], partitions=3)
    publish_day(lake, lake.dates("trades")[0], kafka_bootstrap, speed=0, prefix=prefix)
    prod = kafka_io.producer(kafka_bootstrap)
    prod.send(f"{prefix}.trades", key=b"SPY", value=b"\x00garbage")
    prod.send(f"{prefix}.trades", key=b"SPY", value=json.dumps({"symbol": "SPY", "price": 1}).encode())
    prod.flush()
    return lake, engine, bars, model, prefix


def make_loop(world, kafka_bootstrap, redis_url, group, signals_topic, dlq, kinds=None, exchange=None):
    lake, engine, _, model, prefix = world
    # 16 names and a 20-tree model: a one-sided minute is normal here, so the breaker only watches the mean
    scorer = Scorer(
        engine,
        RedisOnlineStore(redis_url, engine.version),
        KafkaSignalSink(kafka_bootstrap, signals_topic),
        ModelRuntime(model, compile_trees=False),
        model_budget_ms=1e9,
        breaker=CircuitBreaker(share_bounds=(0.0, 1.0)),
    )
    kinds = kinds or {f"{prefix}.trades": "trades", f"{prefix}.quotes": "quotes"}
    proc = RecordProcessor(scorer, set(lake.read("reference").column("symbol").to_pylist()), lateness_ns=0, kinds=kinds)
    return KafkaScorerLoop(
        proc,
        kafka_bootstrap,
        group,
        CheckpointStore(group, redis_url),
        dlq_topic=dlq,
        topics=tuple(kinds),
        exchange=exchange,
    )


def read_signals(kafka_bootstrap, topic):
    c = kafka_io.consumer(kafka_bootstrap, topic, group=None, consumer_timeout_ms=4000)
    tables = [from_ipc(m.value) for m in c]
    c.close()
    return pa.concat_tables(tables).sort_by([("ts", "ascending"), ("symbol", "ascending")])


def test_kafka_day_equals_offline_and_dead_letters_are_coordinates(world, kafka_bootstrap, redis_url):
    lake, engine, bars, model, _ = world
    import redis

    redis.Redis.from_url(redis_url).flushdb()  # the store never overwrites a newer row: start without any
    g, sig, dlq = f"g{uuid.uuid4().hex[:6]}", f"signals.{uuid.uuid4().hex[:6]}", f"dlq.{uuid.uuid4().hex[:6]}"
    loop = make_loop(world, kafka_bootstrap, redis_url, g, sig, dlq)
    loop.run(idle_seconds=4)
    end = int(bars.column("ts").cast(pa.int64()).to_numpy().max())
    loop.proc.scorer.advance(end)  # the stream is over: finalize the last minutes
    loop.proc.scorer.sink.flush()
    loop.close()
    served = read_signals(kafka_bootstrap, sig)
    offline = offline_predictions(bars, engine, model)
    keys = zip(served.column("symbol").to_pylist(), served.column("ts").cast(pa.int64()).to_pylist(), strict=True)
    np.testing.assert_allclose(
        served.column("p_up").to_numpy(), np.array([offline[k] for k in keys], np.float32), atol=1e-6
    )
    assert served.num_rows == bars.num_rows
    c = kafka_io.consumer(kafka_bootstrap, dlq, group=None, consumer_timeout_ms=3000)
    letters = [json.loads(m.value) for m in c]
    c.close()
    assert len(letters) == 2
    assert {x["reason"].split(":")[0] for x in letters} == {"malformed payload", "missing field 'ts'"}
    assert all(x["offset"] >= 0 and x["partition"] >= 0 for x in letters)
    # features served from Redis, packed float32, newest row per symbol
    row = RedisOnlineStore(redis_url, engine.version).read(["SPY"])["SPY"]
    assert row[0] == end and row[1].dtype == np.float32 and len(row[1]) == len(engine.names)


def test_restart_from_checkpoint_serves_the_same_signals(world, kafka_bootstrap, redis_url):
    _, _, bars, _, _ = world
    end = int(bars.column("ts").cast(pa.int64()).to_numpy().max())
    g1, s1 = f"g{uuid.uuid4().hex[:6]}", f"signals.{uuid.uuid4().hex[:6]}"
    a = make_loop(world, kafka_bootstrap, redis_url, g1, s1, f"dlq.{uuid.uuid4().hex[:6]}")
    a.run(idle_seconds=4)
    a.proc.scorer.advance(end)
    a.proc.scorer.sink.flush()
    a.close()
    g2, s2 = f"g{uuid.uuid4().hex[:6]}", f"signals.{uuid.uuid4().hex[:6]}"
    b = make_loop(world, kafka_bootstrap, redis_url, g2, s2, f"dlq.{uuid.uuid4().hex[:6]}")
    b.run(max_cycles=60)  # crash after an hour of market time
    b.close()
    c = make_loop(world, kafka_bootstrap, redis_url, g2, s2, f"dlq.{uuid.uuid4().hex[:6]}")  # same group: restore
    assert c.proc.scorer.last_minute > 0
    c.run(idle_seconds=4)
    c.proc.scorer.advance(end)
    c.proc.scorer.sink.flush()
    c.close()
    first, second = read_signals(kafka_bootstrap, s1), read_signals(kafka_bootstrap, s2)
    # the minutes between the crash's last checkpoint and the crash are served twice: keep the last copy
    second = second.group_by(["symbol", "ts"], use_threads=False).aggregate([("p_up", "last")])
    second = second.rename_columns(["symbol", "ts", "p_up"]).sort_by([("ts", "ascending"), ("symbol", "ascending")])
    assert first.num_rows == second.num_rows
    np.testing.assert_array_equal(first.column("p_up").to_numpy(), second.column("p_up").to_numpy())


def test_two_members_of_one_group_serve_exactly_what_one_scorer_serves(world, kafka_bootstrap, redis_url):
    """Scale-out: two scorers in one consumer group split the tick partitions, exchange their finalized bars, each
    scores the whole cross-section and serves its own symbols: together every signal once, equal to offline."""
    from serving.scaleout import BarExchange

    lake, engine, bars, model, _ = world
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    tag = uuid.uuid4().hex[:6]
    prefix, group, sig, bars_topic = f"x{tag}", f"g{tag}", f"signals.{tag}", f"bars.{tag}"
    kinds = {f"{prefix}.trades": "trades", f"{prefix}.quotes": "quotes"}
    kafka_io.ensure_topics(kafka_bootstrap, list(kinds), partitions=3)

    def member() -> KafkaScorerLoop:
        exchange = BarExchange(kafka_bootstrap, bars_topic)
        return make_loop(world, kafka_bootstrap, redis_url, group, sig, f"dlq.{tag}", kinds=kinds, exchange=exchange)

    members = [member(), member()]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # both join (and the group settles) before any tick flows
        for m in members:
            m.poll_once(timeout_ms=200)
        sizes = [len(m.consumer.assignment()) for m in members]
        if min(sizes) > 0 and sum(sizes) == 6:
            break
    assert min(sizes) > 0 and sum(sizes) == 6, sizes
    publish_day(lake, lake.dates("trades")[0], kafka_bootstrap, speed=0, prefix=prefix)
    quiet = 0
    while quiet < 25:  # ~5 s without a record or a cycle on either member
        busy = False
        for m in members:
            before = sum(m.offsets.values())
            busy |= bool(m.poll_once(timeout_ms=100)) or sum(m.offsets.values()) != before
        quiet = 0 if busy else quiet + 1
    end = int(bars.column("ts").cast(pa.int64()).to_numpy().max())
    for m in members:  # the stream is over: each publishes its last bars, then each scores the rest
        m.end_of_stream(end)
    for m in members:
        m.finish(end)
        m.proc.scorer.sink.flush()
    assert [m.dead for m in members] == [0, 0]  # no tick refused (late, say) on either member
    own = [m.exchange.own for m in members if m.exchange is not None]
    for m in members:
        m.close()
    assert all(own) and not (own[0] & own[1])  # each served some symbols, none twice
    served = read_signals(kafka_bootstrap, sig)
    assert served.num_rows == bars.num_rows
    offline = offline_predictions(bars, engine, model)
    keys = zip(served.column("symbol").to_pylist(), served.column("ts").cast(pa.int64()).to_pylist(), strict=True)
    np.testing.assert_allclose(
        served.column("p_up").to_numpy(), np.array([offline[k] for k in keys], np.float32), atol=1e-6
    )

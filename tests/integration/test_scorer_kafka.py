"""Against the real broker and Redis: a produced day (batched tick payloads) is scored to the offline predictions;
bad input lands on the dead-letter topic with its coordinates (a bad tick alone, with its index); a restart from
the Redis checkpoint serves the same signals, each minute once."""

import json
import uuid

import numpy as np
import pyarrow as pa
import pytest

from features.engine import FeatureEngine
from marketdata.lake import Lake
from marketdata.pipeline import simulate_to_lake
from marketdata.simulator import SimConfig
from serving.feed import tick_codec
from serving.io import checkpoint, kafka_io
from serving.io.checkpoint_store import RedisCheckpointStore
from serving.io.online_store import RedisOnlineStore
from tests.integration.kafka_world import assert_equal_offline, last_minute, make_loop, read_signals
from tests.serving.helpers import offline_predictions, trained_model
from tickwise.tools.publish import publish_day

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
    kafka_io.ensure_topics(kafka_bootstrap, [f"{prefix}.trades", f"{prefix}.quotes", f"{prefix}.status"], partitions=3)
    publish_day(lake, lake.dates("trades")[0], kafka_bootstrap, speed=0, prefix=prefix, batch_ms=2000)
    prod = kafka_io.feed_producer(kafka_bootstrap)
    prod.send(f"{prefix}.trades", value=b"\x00garbage")  # unreadable: dead-lettered whole
    first = lake.read("trades").sort_by("ts").slice(0, 3)
    first = first.set_column(1, "ts", first.column("ts").cast(pa.int64()))
    rows = first.select(["symbol", "ts", "price", "size", "seq"]).to_pylist()
    rows[1]["ts"] = None  # one tick without a time, between two ticks sent again
    batch = pa.Table.from_pylist(rows, schema=tick_codec.WIRE["trades"].remove(5))
    prod.send(f"{prefix}.trades", value=tick_codec.encode("trades", batch))
    prod.flush()
    return lake, engine, bars, model, prefix


def loop_for(world, kafka_bootstrap, redis_url, group, signals, dlq):
    lake, engine, _, model, prefix = world
    universe = set(lake.read("reference").column("symbol").to_pylist())
    return make_loop(engine, model, kafka_bootstrap, redis_url, prefix, group, signals, dlq, universe)


def test_kafka_day_equals_offline_and_dead_letters_are_coordinates(world, kafka_bootstrap, redis_url):
    _, engine, bars, model, _ = world
    tag = uuid.uuid4().hex[:6]
    dlq = f"dlq.{tag}"
    loop = loop_for(world, kafka_bootstrap, redis_url, f"g{tag}", f"signals.{tag}", dlq)
    loop.outputs.store = RedisOnlineStore(redis_url, f"{engine.version}-{tag}")  # keys of this test alone
    loop.run(idle_seconds=4)
    end = last_minute(bars)
    loop.finish(end)  # the stream is over: finalize the last minutes
    loop.close()
    served = read_signals(kafka_bootstrap, f"signals.{tag}")
    assert served.num_rows == bars.num_rows
    assert_equal_offline(served, offline_predictions(bars, engine, model))
    c = kafka_io.consumer(kafka_bootstrap, dlq, group=None, consumer_timeout_ms=3000)
    letters = [json.loads(m.value) for m in c]
    c.close()
    whole = [x for x in letters if "index" not in x]
    single = sorted((x["index"], x["reason"]) for x in letters if "index" in x)
    assert len(whole) == 1 and whole[0]["reason"].startswith("not an Arrow IPC tick batch")
    # the day's first ticks, sent again after the whole day: late once the watermark passed their minute, a repeat
    # of a (symbol, seq) held while it is open (a replay of a filled topic reads the partitions unevenly)
    again = {"event time behind watermark", "duplicate (symbol, seq)"}
    assert [i for i, _ in single] == [0, 1, 2] and single[1][1] == "missing field 'ts'"
    assert single[0][1] in again and single[2][1] in again
    assert all(x["offset"] >= 0 and x["partition"] >= 0 for x in letters)
    # features served from Redis, packed float32, newest row per symbol
    row = loop.outputs.store.read(["SPY"])["SPY"]
    assert row[0] == end and row[1].dtype == np.float32 and len(row[1]) == len(engine.names)


def test_restart_from_checkpoint_serves_the_same_signals_each_minute_once(world, kafka_bootstrap, redis_url):
    _, _, bars, _, _ = world
    end = last_minute(bars)
    t1, t2 = uuid.uuid4().hex[:6], uuid.uuid4().hex[:6]
    a = loop_for(world, kafka_bootstrap, redis_url, f"g{t1}", f"signals.{t1}", f"dlq.{t1}")
    a.run(idle_seconds=4)
    a.finish(end)
    a.close()
    b = loop_for(world, kafka_bootstrap, redis_url, f"g{t2}", f"signals.{t2}", f"dlq.{t2}")
    b.run(max_cycles=60)  # then it dies: nothing closed or flushed beyond what the writer already did
    assert b.writer.flush(timeout_s=30)  # (a checkpoint after the minute it died in)
    landed = b.writer.last_minute
    b.outputs.sink.flush()  # every signal it served is on the topic, some after its last checkpoint
    b.source.close()  # it leaves the group (a killed process leaves when its session times out)
    c = loop_for(world, kafka_bootstrap, redis_url, f"g{t2}", f"signals.{t2}", f"dlq.{t2}")  # same group: restore
    assert c.restore() == landed and c.scorer.last_minute == landed
    c.run(idle_seconds=4)
    c.finish(end)
    c.close()
    first, second = read_signals(kafka_bootstrap, f"signals.{t1}"), read_signals(kafka_bootstrap, f"signals.{t2}")
    assert first.num_rows == second.num_rows == bars.num_rows  # no minute twice, none missing
    assert first.equals(second)


def test_the_checkpoint_is_small_and_restores_the_state_exactly(world, kafka_bootstrap, redis_url):
    """Deltas after the first base; what Redis holds restores the scorer's arrays bit for bit."""
    tag = uuid.uuid4().hex[:6]
    loop = loop_for(world, kafka_bootstrap, redis_url, f"g{tag}", f"signals.{tag}", f"dlq.{tag}")
    loop.writer.base_every = 4
    while loop.cycles < 200:
        if loop.poll_once(timeout_ms=500):
            assert loop.writer.flush(timeout_s=30)  # each capture written before the next poll
    st = loop.writer.stats
    assert st["written"] >= 8 and 2 <= st["bases"] < st["written"] and st["failed"] == 0
    # a delta of 16 names' engine state, beside the aggregator's open minutes (as many as the partitions read ahead
    # of the slowest one hold: a replay of a filled topic interleaves them as the broker serves them)
    agg, _ = loop.assembler.state()
    assert loop.writer.last_bytes < 200_000 + len(checkpoint.encode(agg, {}, None))
    arrays, meta = checkpoint.load(RedisCheckpointStore(redis_url, f"g{tag}"))
    step, _ = loop.scorer.state()
    assert meta["minute"] == loop.writer.last_minute == loop.scorer.last_minute
    for k, v in step.items():
        np.testing.assert_array_equal(arrays[f"step/{k}"], v, err_msg=k)
    loop.close()

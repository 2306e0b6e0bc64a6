"""The whole production chain on real servers: a vendor-protocol replay (a local websocket server sending a
simulated session as Polygon's stream does) -> the feed adapter -> the tick topics -> the Flink job -> the bars
topic and the lake on S3 -> the scorer (`serve --source bars`) -> Redis and the signals topic. Flink's bars equal
the Python aggregator's on the ticks the adapter parsed, the lake holds those ticks once each, and the signals equal
the in-process path's on the same ticks."""

import asyncio
import json
import time
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from websockets.asyncio.server import serve

from features.engine import FeatureEngine
from marketdata.aggregate import aggregate
from marketdata.lake import Lake
from marketdata.schemas import NS_PER_MIN, SCHEMAS
from marketdata.simulator import MarketSimulator, SimConfig
from marketdata.ticks import ticks_for_day
from serving import flink_cluster
from serving.app.loop import ScoringLoop
from serving.feed.parsers import Polygon
from serving.io import kafka_io
from serving.io.feed_adapter import FeedAdapter, TickBatcher
from serving.io.kafka_sources import KafkaBarsSource
from serving.io.online_store import RedisOnlineStore
from serving.io.outputs import KafkaDeadLetters, ListDeadLetters, Outputs
from serving.io.sinks import KafkaSignalSink, from_ipc
from serving.step.ingest import TickAssembler
from tests.flink.helpers import ticks_key, wait_for_lake
from tests.serving.helpers import in_process, model_scorer, read_now, signals_of, trained_model

MINUTES = 12


def polygon_frames(trades: pa.Table, quotes: pa.Table, per_frame: int = 200) -> list[str]:
    """The session's ticks in event-time order as Polygon's stream sends them (times in ms, a sequence number)."""
    ms = lambda t: (t.column("ts").cast(pa.int64()).to_numpy() // 1_000_000).tolist()  # noqa: E731
    events = [
        {"ev": "T", "sym": s, "x": 4, "i": str(q), "z": 3, "p": p, "s": z, "c": [0], "t": t, "q": q}
        for s, p, z, t, q in zip(
            *(trades.column(c).to_pylist() for c in ("symbol", "price", "size")),
            ms(trades),
            trades.column("seq").to_pylist(),
            strict=True,
        )  # fmt: skip
    ] + [
        {"ev": "Q", "sym": s, "bx": 4, "bp": b, "bs": bs, "ax": 7, "ap": a, "as": az, "c": 0, "t": t, "q": q}
        for s, b, a, bs, az, t, q in zip(
            *(quotes.column(c).to_pylist() for c in ("symbol", "bid", "ask", "bid_size", "ask_size")),
            ms(quotes),
            quotes.column("seq").to_pylist(),
            strict=True,
        )  # fmt: skip
    ]
    events.sort(key=lambda e: (e["t"], e["ev"]))
    return [json.dumps(events[i : i + per_frame]) for i in range(0, len(events), per_frame)]


def as_parsed(frames: list[str]) -> dict[str, pa.Table]:
    """What the adapter sends, as contract tables: the reference's input."""
    rows: dict[str, list[dict]] = {"trades": [], "quotes": []}
    vendor = Polygon()
    for f in frames:
        for kind, tick in vendor.parse(f).ticks:
            rows[kind].append(tick)
    out = {}
    for kind, rs in rows.items():
        t = pa.Table.from_pylist(rs)
        t = t.set_column(t.column_names.index("ts"), "ts", t.column("ts").cast(pa.timestamp("ns", "UTC")))
        out[kind] = t.select([n for n in SCHEMAS[kind].names if n in t.column_names])
    return out


def test_a_vendor_replay_through_flink_to_signals_and_redis(flink_url, flink_jobs, kafka_bootstrap, redis_url, s3_lake):
    run = uuid.uuid4().hex[:8]
    sim = MarketSimulator(SimConfig(symbols=20, days=1, seed=44))
    day = next(iter(sim.days()))
    trades, quotes = ticks_for_day(day, np.random.default_rng(5))
    t0 = int(trades.column("ts").cast(pa.int64()).to_numpy()[0]) // NS_PER_MIN * NS_PER_MIN
    end = pa.scalar(t0 + MINUTES * NS_PER_MIN, pa.int64()).cast(pa.timestamp("ns", "UTC"))
    trades, quotes = (t.filter(pc.less(t.column("ts"), end)) for t in (trades, quotes))
    frames = polygon_frames(trades, quotes)
    parsed = as_parsed(frames)

    prefix = f"chain-{run}."
    kafka_io.ensure_topics(kafka_bootstrap, [f"{prefix}ticks.{k}" for k in ("trades", "quotes", "status")], 2)
    job = flink_cluster.StreamJob(
        kafka_bootstrap, f"{prefix}ticks.trades", f"{prefix}ticks.quotes", f"{prefix}ticks.status",
        f"{prefix}bars.1m", f"{prefix}ticks.dead", group=f"chain-{run}", idle_ms=2000, checkpoint_ms=500,
        transactional_id=f"chain-{run}", lake=s3_lake,
    )  # fmt: skip
    job_id = flink_cluster.submit(job, flink_url, parallelism=1)
    flink_jobs.append(job_id)
    try:
        flink_cluster.wait_running(flink_url, job_id)

        async def replay(ws) -> None:  # type: ignore[no-untyped-def]
            await ws.send(json.dumps([{"ev": "status", "status": "connected", "message": "Connected Successfully"}]))
            await ws.recv()
            await ws.send(json.dumps([{"ev": "status", "status": "auth_success", "message": "authenticated"}]))
            await ws.recv()
            await ws.send(json.dumps([{"ev": "status", "status": "success", "message": "subscribed to: T.*"}]))
            for f in frames:
                await ws.send(f)
                await asyncio.sleep(0.002)
            await ws.wait_closed()

        async def feed() -> None:
            async with serve(replay, "127.0.0.1", 0) as srv:
                port = srv.sockets[0].getsockname()[1]
                batcher = TickBatcher(kafka_io.feed_producer(kafka_bootstrap), prefix=f"{prefix}ticks")
                adapter = FeedAdapter(Polygon(), {"POLYGON_API_KEY": "k"}, batcher,
                                      KafkaDeadLetters(kafka_bootstrap, f"{prefix}ticks.dlq"),
                                      url=f"ws://127.0.0.1:{port}")  # fmt: skip
                stop = asyncio.Event()
                task = asyncio.create_task(adapter.run(stop))
                want = parsed["trades"].num_rows + parsed["quotes"].num_rows
                while adapter.stats.ticks < want and not task.done():
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.5)
                stop.set()
                await task

        asyncio.run(feed())

        # the scorer on Flink's bars, writing Redis and the signals topic, until the last whole minute is scored
        last = t0 + (MINUTES - 1) * NS_PER_MIN
        ref_bars, _ = aggregate(parsed["trades"], parsed["quotes"])
        model = trained_model(ref_bars, FeatureEngine(sim.reference()), rounds=10)
        scorer = model_scorer(sim.reference(), model)
        store = RedisOnlineStore(redis_url, f"chain-{run}")
        outputs = Outputs(KafkaSignalSink(kafka_bootstrap, f"{prefix}signals"), store, lambda m: None)
        src = KafkaBarsSource(kafka_bootstrap, f"scorer-{run}", job.bars_topic)
        loop = ScoringLoop(src, TickAssembler(lateness_ns=0), scorer, outputs, ListDeadLetters())
        deadline = time.monotonic() + 90
        while scorer.last_minute < last and time.monotonic() < deadline:
            loop.poll_once(200)
        loop.close()
        assert scorer.last_minute >= last, f"scored through {scorer.last_minute}, wanted {last}"
        lake = wait_for_lake(Lake(s3_lake), parsed, last)  # the raw ticks as the adapter sent them
    finally:
        flink_cluster.cancel(flink_url, job_id)

    for kind, sent in parsed.items():
        assert ticks_key(lake[kind]) == ticks_key(sent), kind
    bars, _ = flink_cluster.read_bars(kafka_bootstrap, job.bars_topic)
    got = bars.filter(pc.less_equal(bars.column("ts").cast(pa.int64()), last))
    ref = ref_bars.filter(pc.less_equal(ref_bars.column("ts").cast(pa.int64()), last))
    for name in ref.column_names:
        assert got.column(name).equals(ref.column(name)), name

    published = pa.concat_tables([from_ipc(m.value) for m in read_now(kafka_bootstrap, f"{prefix}signals")])
    order = [("ts", "ascending"), ("symbol", "ascending")]
    published = published.filter(pc.less_equal(published.column("ts").cast(pa.int64()), last)).sort_by(order)
    ref_signals = signals_of(in_process(sim.reference(), model, parsed, t0, MINUTES, last)).sort_by(order)
    assert published.num_rows > 0 and published.equals(ref_signals)
    stored = store.read(sim.reference().column("symbol").to_pylist())  # each symbol's newest features in Redis
    assert stored and max(ts for ts, _ in stored.values()) == scorer.last_minute

"""`tickwise bench e2e`: a tick's produce time to its signal on Kafka, through the real broker.

A publisher process replays simulated ticks into fresh topics at ``speed`` x real time (1 = live); this process
runs the Kafka scorer loop on them (the same code as ``tickwise serve --mode kafka``) and publishes signals to
Kafka. Afterwards both topics are read back with their Kafka timestamps (producer CreateTime): for each minute,
latency = the signal message's timestamp - the timestamp of the last tick of that minute. A minute can only
close once the slowest partition's event time passes its end plus the allowed lateness, so the figure includes
``lateness / speed`` by design; it is reported beside the processing part.
"""

import datetime as dt
import multiprocessing as mp
import tempfile
import time
import uuid

import numpy as np

from features.engine import FeatureEngine
from marketdata.lake import Lake
from marketdata.schemas import NS_PER_MIN
from marketdata.simulator import MarketSimulator, SimConfig
from marketdata.ticks import ticks_for_day
from serving import kafka_io, tick_codec
from serving.bench import _subday, fresh_store
from serving.ingest import RecordProcessor
from serving.kafka_loop import CheckpointStore, KafkaScorerLoop
from serving.scorer import Scorer
from serving.sinks import KafkaSignalSink


def _publish(root: str, day: str, bootstrap: str, speed: float, prefix: str) -> None:
    from serving.publish import publish_day

    publish_day(Lake(root), dt.date.fromisoformat(day), bootstrap, speed, prefix=prefix)


def _read(bootstrap: str, topic: str) -> list:
    c = kafka_io.consumer(bootstrap, topic, group=None, consumer_timeout_ms=3000)
    out = list(c)
    c.close()
    return out


def run(
    symbols: int,
    minutes: int,
    bootstrap: str,
    redis_url: str | None,
    speed: float = 1.0,
    lateness_ms: int = 2000,
    log=print,
) -> dict:  # type: ignore[no-untyped-def]
    sim = MarketSimulator(SimConfig(symbols=symbols, days=1, seed=2))
    day = _subday(next(sim.days()), minutes)
    trades, quotes = ticks_for_day(day, np.random.default_rng(5))
    engine = FeatureEngine(sim.reference(), sim.corporate_actions())
    prefix = f"e2e{uuid.uuid4().hex[:6]}"
    sig_topic, dlq = f"{prefix}.signals", f"{prefix}.dlq"
    kafka_io.ensure_topics(bootstrap, [f"{prefix}.trades", f"{prefix}.quotes", sig_topic, dlq])
    with tempfile.TemporaryDirectory() as tmp:
        lake = Lake(tmp)
        lake.write("trades", trades)
        lake.write("quotes", quotes)
        store = fresh_store(redis_url, engine.version, day.bars) if redis_url else None  # writes, not skips
        from serving.online_store import InProcessOnlineStore

        scorer = Scorer(engine, store or InProcessOnlineStore(engine.version), KafkaSignalSink(bootstrap, sig_topic))
        proc = RecordProcessor(
            scorer,
            lateness_ns=lateness_ms * 1_000_000,
            kinds={f"{prefix}.trades": "trades", f"{prefix}.quotes": "quotes"},
        )
        loop = KafkaScorerLoop(
            proc, bootstrap, f"{prefix}-g", CheckpointStore(f"{prefix}-g"), dlq_topic=dlq,
            topics=(f"{prefix}.trades", f"{prefix}.quotes"),
        )  # fmt: skip
        ctx = mp.get_context("spawn")
        pub = ctx.Process(target=_publish, args=(tmp, str(day.date), bootstrap, speed, prefix))
        log(f"publishing {trades.num_rows + quotes.num_rows:,} ticks of {symbols} symbols x {minutes} min at {speed}x")
        t0 = time.monotonic()
        pub.start()
        cycles = 0
        while pub.is_alive() or time.monotonic() - t0 < 5:
            cycles += len(loop.poll_once(50))
        cycles += loop.run(idle_seconds=3 + lateness_ms / 1000 / max(speed, 1e-9))
        loop.close()
        pub.join()
    signals = _read(bootstrap, sig_topic)
    last_tick_ms: dict[int, int] = {}
    for kind in ("trades", "quotes"):
        for m in _read(bootstrap, f"{prefix}.{kind}"):
            end = (tick_codec.decode(kind, m.value)["ts"] // NS_PER_MIN + 1) * NS_PER_MIN
            last_tick_ms[end] = max(last_tick_ms.get(end, 0), m.timestamp)
    lat = np.array([s.timestamp - last_tick_ms[int(s.key)] for s in signals if int(s.key) in last_tick_ms], float)
    if not len(lat):
        raise RuntimeError("no signal could be matched to its ticks: did the scorer see the stream?")
    wait = lateness_ms / max(speed, 1e-9)
    return {
        "symbols": symbols,
        "minutes": minutes,
        "speed": speed,
        "lateness_ms": lateness_ms,
        "signals_messages": len(signals),
        "cycles": cycles,
        "e2e_p50_ms": float(np.percentile(lat, 50)),
        "e2e_p99_ms": float(np.percentile(lat, 99)),
        "e2e_max_ms": float(lat.max()),
        "lateness_wait_ms": wait,
        "processing_p50_ms": float(np.percentile(lat, 50) - wait),
        "processing_p99_ms": float(np.percentile(lat, 99) - wait),
        "store": "redis" if redis_url else "in-process",
        "store_rows_written": store.rows_written if store else None,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "ticks": int(trades.num_rows + quotes.num_rows),
    }

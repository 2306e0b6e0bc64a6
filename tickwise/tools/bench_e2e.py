"""`tickwise bench e2e`: a minute's last tick produced -> its signal on Kafka, through the real broker and Redis.

A publisher process replays a simulated session's first ``minutes`` at real time, calibrated tick rates scaled to
``ticks_per_second`` (:mod:`tickwise.tools.publish`: batched as feed adapters send them). This process runs the live path
exactly as ``tickwise serve --mode kafka`` wires it (:func:`serving.app.runtime.build_loop`'s parts): the Kafka tick
source, the tick assembler with its watermark, the scoring step with the production-shaped model, the Redis online
store, the signals topic, the dead-letter topic and the Redis checkpoint written by its thread. The engine starts
from the state an earlier simulated session left, as `serve` starts from the lake's.

Afterwards the tick and signal topics are read back with their Kafka timestamps: a tick message's is when the
publisher produced it, a signal's when the broker appended it (the signals topic keeps LogAppendTime). Per minute:
processing = the signal's timestamp - the timestamp of the last message holding a tick of that minute - the
allowed lateness (a minute closes only once the watermark, the partitions' event time minus the lateness, is past
its end).
"""

import datetime as dt
import multiprocessing as mp
import tempfile
import time
import uuid

import numpy as np
import pyarrow as pa

from features.batch import fold
from features.engine import FeatureEngine
from marketdata.lake import Lake
from marketdata.schemas import NS_PER_MIN
from marketdata.simulator import MarketSimulator, SimConfig
from marketdata.ticks import TickRates, ticks_for_day
from serving.app.loop import ScoringLoop
from serving.app.runtime import summarize
from serving.app.settings import ServeSettings
from serving.app.warmup import warm_up
from serving.feed import tick_codec
from serving.inference.model_runtime import ModelRuntime
from serving.io import kafka_io
from serving.io.checkpoint import CheckpointWriter
from serving.io.checkpoint_store import RedisCheckpointStore
from serving.io.kafka_sources import KafkaTickSource
from serving.io.outputs import KafkaDeadLetters, Outputs
from serving.io.sinks import KafkaSignalSink
from serving.step.ingest import TickAssembler
from serving.step.scorer import CycleResult, Scorer
from tickwise.tools.bench_scorer import _subday, bench_model, fresh_store

PARTITIONS = 4


def _publish(root: str, day: str, bootstrap: str, speed: float, prefix: str, batch_ms: float, q) -> None:  # type: ignore[no-untyped-def]
    from tickwise.tools.publish import publish_day

    t0 = time.monotonic()
    n = publish_day(Lake(root), dt.date.fromisoformat(day), bootstrap, speed, prefix=prefix, batch_ms=batch_ms)
    q.put((n, time.monotonic() - t0))


def start_publisher(
    tmp: str,
    day: dt.date,
    trades: pa.Table,
    quotes: pa.Table,
    bootstrap: str,
    speed: float,
    prefix: str,
    batch_ms: float,
):  # type: ignore[no-untyped-def]
    """Write the session's ticks into a lake under ``tmp`` and start the publisher process on it (not yet
    running: call ``start()``); returns the process and the queue it reports ``(ticks sent, seconds)`` on."""
    lake = Lake(tmp)
    lake.write("trades", trades)
    lake.write("quotes", quotes)
    ctx = mp.get_context("spawn")
    done = ctx.Queue()
    pub = ctx.Process(target=_publish, args=(tmp, str(day), bootstrap, speed, prefix, batch_ms, done))
    return pub, done


def last_tick_ms(bootstrap: str, prefix: str) -> dict[int, int]:
    """Per minute (its end, ns): the producer timestamp (ms) of the last tick message holding a tick of it."""
    out: dict[int, int] = {}
    for kind in ("trades", "quotes"):
        for m in _read(bootstrap, f"{prefix}.{kind}"):
            ts = tick_codec.read(kind, m.value).column("ts").to_numpy()
            for end in np.unique((ts // NS_PER_MIN + 1) * NS_PER_MIN):
                out[int(end)] = max(out.get(int(end), 0), m.timestamp)
    return out


def _read(bootstrap: str, topic: str) -> list:
    c = kafka_io.consumer(bootstrap, topic, group=None, consumer_timeout_ms=5000, max_poll_records=5000)
    out = list(c)
    c.close()
    return out


def _stream(symbols: int, minutes: int, ticks_per_second: float, log) -> tuple:  # type: ignore[no-untyped-def]
    sim = MarketSimulator(SimConfig(symbols=symbols, days=2, seed=2))
    history, today = list(sim.days())
    day = _subday(today, minutes)
    trades, quotes = ticks_for_day(day, np.random.default_rng(5))
    scale = ticks_per_second * minutes * 60 / max(trades.num_rows + quotes.num_rows, 1)
    trades, quotes = ticks_for_day(day, np.random.default_rng(5), TickRates(scale=scale))
    log(f"stream: {trades.num_rows + quotes.num_rows:,} ticks of {symbols:,} symbols over {minutes} min "
        f"(calibrated rates x {scale:.2f})")  # fmt: skip
    return sim, history, day, trades, quotes


def _model(engine: FeatureEngine, bars: pa.Table, trees: int, leaves: int, log) -> ModelRuntime | None:  # type: ignore[no-untyped-def]
    if trees == 0:
        return None
    t0 = time.perf_counter()
    runtime = ModelRuntime(bench_model(engine, bars, trees, leaves), compile_trees=True)
    log(f"model: {trees} trees x {leaves} leaves trained as direction_model is (categorical ids); runtime "
        f"{runtime.runtime}, ready in {time.perf_counter() - t0:.0f} s")  # fmt: skip
    return runtime


def run(
    symbols: int,
    minutes: int,
    bootstrap: str,
    redis_url: str,
    ticks_per_second: float = 50_000,
    speed: float = 1.0,
    lateness_ms: int = 2000,
    batch_ms: float = 10.0,
    trees: int = 500,
    leaves: int = 63,
    log=print,
) -> dict:  # type: ignore[no-untyped-def]
    sim, history, day, trades, quotes = _stream(symbols, minutes, ticks_per_second, log)

    engine = FeatureEngine(sim.reference(), sim.corporate_actions(), step_threads=ServeSettings().step_threads)
    _, state = fold(engine, history.bars)  # the batch path's session before: the scorer starts from its state
    model = _model(engine, _subday(history, 60).bars, trees, leaves, log)
    prefix = f"e2e{uuid.uuid4().hex[:6]}"
    kinds = {f"{prefix}.{k}": k for k in ("trades", "quotes", "status")}
    kafka_io.ensure_topics(bootstrap, list(kinds), partitions=PARTITIONS)
    # the signal's time is when the broker appended it, not when the scorer handed it to its client
    kafka_io.ensure_topics(bootstrap, [f"{prefix}.signals"], configs={"message.timestamp.type": "LogAppendTime"})
    scorer = Scorer(engine, model, model_budget_ms=1e9)
    warm_up(engine, model)  # as `serve` does before its first minute
    scorer.online.state, scorer.last_minute = state, state.last_ts
    assembler = TickAssembler(lateness_ns=lateness_ms * 1_000_000, kinds=kinds)

    def owned(mine: set, every: set) -> None:
        assembler.assign(mine)

    source = KafkaTickSource(bootstrap, f"{prefix}-g", tuple(kinds), on_assign=owned)
    sink = KafkaSignalSink(bootstrap, f"{prefix}.signals")
    store = fresh_store(redis_url, engine.version, day.bars)
    store.prepare(sim.reference().column("symbol").to_pylist())  # as `serve` does with the lake's reference
    writer = CheckpointWriter(
        RedisCheckpointStore(redis_url, f"{prefix}-g"), ready=lambda m: sink.wait_delivered(m, 30)
    )
    cycles: list[CycleResult] = []
    outputs = Outputs(sink, store, lambda m: None, observers=[cycles.append])
    loop = ScoringLoop(source, assembler, scorer, outputs, KafkaDeadLetters(bootstrap, f"{prefix}.dlq"), writer)
    lags: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        n_ticks = trades.num_rows + quotes.num_rows
        pub, done = start_publisher(tmp, day.date, trades, quotes, bootstrap, speed, prefix, batch_ms)
        del trades, quotes
        while not source.consumer.assignment():  # joined before the first tick flows, as a running scorer is
            loop.poll_once(100)
        log(f"publishing at {speed}x real time in {batch_ms:g} ms batches; scoring as `serve --mode kafka` does")
        t0 = time.monotonic()
        pub.start()
        first_tick: float | None = None
        while pub.is_alive() or time.monotonic() - t0 < 5:
            loop.poll_once(50)
            lag = _lag_s(source)
            if lag is not None:
                first_tick = first_tick or time.monotonic()
                lags.append(lag)
        consumed_s = time.monotonic() - (first_tick or t0)
        loop.run(idle_seconds=3 + lateness_ms / 1000 / max(speed, 1e-9))
        pub.join()
        published, publish_s = done.get(timeout=10)
    loop.close()
    return _report(
        bootstrap, prefix, lateness_ms / max(speed, 1e-9), cycles, writer, lags, n_ticks, published, consumed_s,
        dict(symbols=symbols, minutes=minutes, speed=speed, lateness_ms=lateness_ms, batch_ms=batch_ms,
             trees=trees, leaves=leaves, runtime=model.runtime if model else "fallback", dead_letters=loop.dead_letters,
             publish_s=publish_s, store_rows_written=store.rows_written),
    )  # fmt: skip


def _lag_s(source: KafkaTickSource) -> float | None:
    """How far behind the newest record this poll read was produced (None before any record)."""
    ts = getattr(source, "last_timestamp_ms", 0)
    return time.time() - ts / 1000 if ts else None


def _report(bootstrap, prefix, wait_ms, cycles, writer, lags, n_ticks, published, consumed_s, extra) -> dict:  # type: ignore[no-untyped-def]
    signals = _read(bootstrap, f"{prefix}.signals")
    last = last_tick_ms(bootstrap, prefix)
    matched = [s for s in signals if int(s.key) in last]
    lat = np.array([s.timestamp - last[int(s.key)] for s in matched], float)
    by_ts = {c.ts: c for c in cycles}
    if not len(lat):
        raise RuntimeError("no signal could be matched to its ticks: did the scorer see the stream?")
    proc = lat - wait_ms
    busy = [c for c in cycles if c.symbols]
    out = {
        "processing_p50_ms": float(np.percentile(proc, 50)),
        "processing_p99_ms": float(np.percentile(proc, 99)),
        "processing_max_ms": float(proc.max()),
        "e2e_p50_ms": float(np.percentile(lat, 50)),
        "e2e_p99_ms": float(np.percentile(lat, 99)),
        "lateness_wait_ms": wait_ms,
        "ticks": n_ticks,
        "ticks_published": published,
        "ticks_per_second": n_ticks / max(consumed_s, 1e-9),
        "lag_max_s": float(max(lags[10:] or lags or [0.0])),
        "checkpoint_bytes": writer.last_bytes,
        "checkpoint_p99_ms": float(np.percentile(writer.write_ms, 99)) if writer.write_ms else None,
        "checkpoints": writer.stats,
        "cycles": len(busy),
        "signals_messages": len(signals),
        "cycle": summarize(cycles),
        "per_minute": [
            {
                "minute": int(s.key),
                "processing_ms": round(float(x), 1),
                "cycle_ms": {k: round(v, 2) for k, v in by_ts[int(s.key)].timings_ms.items()}
                if int(s.key) in by_ts
                else None,
            }
            for s, x in zip(matched, proc, strict=True)
        ],
        "store": "redis",
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "target_processing_p99_ms": 50,
        "goal_processing_p99_ms": 10,
    }
    out.update(extra)
    return out

"""`tickwise bench scorer`: full cycles over a 5,000-symbol cross-section against real Redis (and Kafka).

A cycle is: finalize the minute's ticks into bars -> step the feature engine -> predict with a 500-tree /
63-leaf model trained as ``direction_model`` is (categorical ids; the model runtime's first choice serves it) ->
publish the signals batch -> MSET packed float32 rows to Redis. Ticks are simulated for the measured minutes only.

The measured day is not the engine's first: earlier simulated sessions are folded by the batch path first and the
scorer starts from the state that leaves, as `tickwise serve` restores the lake's ``engine_state``. So the cycles
see the steady state (every window filled, FFD's 281-minute window included), not a cold open's warm-up.
"""

import dataclasses
import time

import lightgbm as lgb
import numpy as np
import pyarrow as pa

from features.batch import fold
from features.engine import FeatureEngine
from marketdata.schemas import NS_PER_MIN
from marketdata.simulator import MarketSimulator, SimConfig, SimDay
from marketdata.ticks import ticks_for_day
from modeling.loaded import LoadedModel, checksum
from serving.app.gc_tuning import freeze_heap
from serving.app.loop import ScoringLoop
from serving.app.runtime import summarize
from serving.feed import tick_codec
from serving.inference.model_runtime import ModelRuntime
from serving.io.checkpoint import CheckpointWriter
from serving.io.checkpoint_store import RedisCheckpointStore
from serving.io.online_store import RedisOnlineStore
from serving.io.outputs import ListDeadLetters, Outputs
from serving.io.sinks import KafkaSignalSink, ListSink, SignalSink
from serving.io.sources import ListSource, Poll
from serving.step.ingest import Record, TickAssembler
from serving.step.scorer import CycleResult, Scorer


def _subday(day: SimDay, minutes: int) -> SimDay:
    ts = day.bars.column("ts").cast(pa.int64()).to_numpy()
    cut = ts.min() + minutes * NS_PER_MIN
    keep = ts < cut
    return dataclasses.replace(
        day,
        bars=day.bars.filter(pa.array(keep)),
        open_mid=day.open_mid[keep],
        sigma=day.sigma[keep],
        half_spread=day.half_spread[keep],
    )


def fresh_store(url: str, version: str, bars: pa.Table) -> RedisOnlineStore:
    """A store under the bench's own key prefix, emptied for the symbols of ``bars`` first. The store never replaces
    a newer row with an older one, so against keys an earlier run left (the same simulated minutes) every write
    would be skipped, and the store stage would time nothing (``rows_written`` shows it did not)."""
    store = RedisOnlineStore(url, f"bench-{version}")
    symbols = sorted(set(bars.column("symbol").to_pylist()))
    for lo in range(0, len(symbols), 1000):
        store.r.delete(*[store.key(s) for s in symbols[lo : lo + 1000]])
    return store


def bench_model(engine: FeatureEngine, bars: pa.Table, trees: int, leaves: int, depth: int = 8) -> LoadedModel:
    """A model of the benchmark's size trained as ``direction_model`` is (:data:`modeling.train.DEFAULT_LGBM`,
    ``symbol_id`` and ``sector_id`` categorical, the sweep's deeper trees) on real engine features, so trees route
    like production's."""
    from modeling.train import CATEGORICAL, DEFAULT_LGBM

    feats, st = fold(engine, bars)
    X = np.column_stack([feats.column(n).to_numpy(zero_copy_only=False).astype(np.float32) for n in engine.names])
    rng = np.random.default_rng(0)
    y = (X[:, engine.names.index("roc_1")] + rng.normal(0, 0.002, len(X)) > 0).astype(int)
    params = {**DEFAULT_LGBM, "num_leaves": leaves, "max_depth": depth, "min_data_in_leaf": 50, "num_threads": 2}
    ds = lgb.Dataset(X, y, feature_name=engine.names, categorical_feature=list(CATEGORICAL))
    b = lgb.train(params, ds, num_boost_round=trees)
    text = b.model_to_string()
    table = {"symbol_id": list(st.symbols), "sector_id": engine.sectors}  # as training keeps them: translated
    return LoadedModel(
        lgb.Booster(model_str=text), "bench", engine.version, engine.names, checksum(text), b.num_trees(), leaves, table
    )


def tick_polls(trades: pa.Table, quotes: pa.Table, start: int, minutes: int, per_minute: int) -> list[Poll]:
    """The ticks as the Kafka loop would poll them: ``per_minute`` polls a minute, each one message per kind, then
    the minute's end as a poll's watermark (a replay closes its minutes itself)."""
    t_ns, q_ns = (x.column("ts").cast(pa.int64()).to_numpy() for x in (trades, quotes))
    step = NS_PER_MIN // per_minute
    polls, offset = [], 0
    for m in range(minutes):
        lo = start + m * NS_PER_MIN
        for a in range(lo, lo + NS_PER_MIN, step):
            recs = []
            for kind, table, ns in (("trades", trades, t_ns), ("quotes", quotes, q_ns)):
                i, j = np.searchsorted(ns, [a, a + step])
                if j > i:
                    recs.append(
                        Record(f"ticks.{kind}", 0, offset, None, tick_codec.encode(kind, table.slice(i, j - i)))
                    )
                    offset += 1
            polls.append(Poll(recs))
        polls.append(Poll([], lo + NS_PER_MIN))
    return polls


def run(
    symbols: int,
    cycles: int,
    redis_url: str,
    bootstrap: str | None,
    trees: int = 500,
    leaves: int = 63,
    warmup_minutes: int = 30,
    polls_per_minute: int = 60,
    history_days: int = 1,
    log=print,
) -> dict:  # type: ignore[no-untyped-def]
    sim = MarketSimulator(SimConfig(symbols=symbols, days=history_days + 1, seed=1))
    days = list(sim.days())
    engine = FeatureEngine(sim.reference(), sim.corporate_actions())
    t0 = time.perf_counter()
    # trained on the first session's opening minutes from a cold state: the model the lleaves cache already holds
    loaded = bench_model(engine, _subday(days[0], warmup_minutes + cycles + 2).bars, trees, leaves)
    log(f"model: {loaded.trees} trees x {leaves} leaves trained in {time.perf_counter() - t0:.0f} s")
    t0 = time.perf_counter()
    runtime = ModelRuntime(loaded, compile_trees=True)
    log(f"inference: {runtime.runtime}, ready in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    state = engine.new_state()
    for earlier in days[:-1]:  # the batch path's sessions before the measured one, each continuing the last
        _, state = fold(engine, earlier.bars, state)
    if history_days:
        log(f"engine state: {history_days} earlier session(s) folded in {time.perf_counter() - t0:.0f} s")
    day = _subday(days[-1], warmup_minutes + cycles + 2)
    trades, quotes = ticks_for_day(day, np.random.default_rng(3))
    trades, quotes = trades.sort_by("ts"), quotes.sort_by("ts")  # arrival order; polls are slices
    start = int(day.bars.column("ts").cast(pa.int64()).to_numpy().min()) - NS_PER_MIN
    polls = tick_polls(trades, quotes, start, warmup_minutes + cycles, polls_per_minute)
    sink: SignalSink = KafkaSignalSink(bootstrap, f"bench-signals-{time.time_ns()}") if bootstrap else ListSink()
    store = fresh_store(redis_url, engine.version, day.bars)
    scorer = Scorer(engine, runtime, model_budget_ms=1e9)
    if history_days:  # as `tickwise serve` starts: from the state the batch path left (serving.app.runtime)
        scorer.online.state = state
        scorer.last_minute = state.last_ts
    writer = CheckpointWriter(RedisCheckpointStore(redis_url, f"bench-{time.time_ns()}"))
    outputs = Outputs(sink, store, lambda m: None)
    loop = ScoringLoop(ListSource(polls), TickAssembler(lateness_ns=0), scorer, outputs, ListDeadLetters(), writer)
    results: list[CycleResult] = []
    ingest_ms: list[float] = []  # per poll: decoding, screening and folding ticks into the open partial bars
    minute = 0
    for p in polls:
        t0 = time.perf_counter()
        out = loop.poll_once()
        took = (time.perf_counter() - t0) * 1e3
        if p.watermark is None and minute >= warmup_minutes:
            ingest_ms.append(took)
        if p.watermark is not None:
            if minute >= warmup_minutes:
                results.extend(out)
            minute += 1
            if minute == warmup_minutes:
                freeze_heap()  # as `tickwise serve` does once warm
            if minute % 15 == 0:
                log(
                    f"minute {minute}/{warmup_minutes + cycles} ({'measured' if minute > warmup_minutes else 'warm-up'})"
                )
    writer.flush()
    loop.close()
    scored = sum(len(c.symbols) for c in results)
    if store.rows_written < scored:  # every row must really be written: the store stage timed a write each minute
        raise RuntimeError(f"the Redis store wrote {store.rows_written:,} of {scored:,} scored rows")
    summary = summarize(results)
    n_ticks = trades.num_rows + quotes.num_rows
    summary.update(
        {
            "symbols": symbols,
            "history_days": history_days,
            "trees": loaded.trees,
            "leaves": leaves,
            "compiled": runtime.compiled,
            "runtime": runtime.runtime,
            "ticks_per_minute": int(n_ticks / (warmup_minutes + cycles)),
            "polls_per_minute": polls_per_minute,
            "ingest_batch_p50_ms": float(np.percentile(ingest_ms, 50)) if ingest_ms else 0.0,
            "ingest_batch_p99_ms": float(np.percentile(ingest_ms, 99)) if ingest_ms else 0.0,
            "ingest_per_minute_ms": float(np.sum(ingest_ms) / max(cycles, 1)),
            "checkpoint_bytes": writer.last_bytes,
            "checkpoint_p99_ms": float(np.percentile(writer.write_ms, 99)) if writer.write_ms else 0.0,
            "sink": "kafka" if bootstrap else "in-process",
            "store": "redis",
            "store_rows_written": store.rows_written,
            "per_cycle_ms": [{k: round(v, 2) for k, v in c.timings_ms.items()} for c in results if c.symbols],
            "target_p99_ms": 50,
            "goal_p99_ms": 10,
        }
    )
    return summary

"""`tickwise serve`: build the parts from settings and run the one loop, on a lake replay (in-process) or on Kafka."""

import datetime as dt
import logging
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

from features.engine import FeatureEngine, StateMismatch
from marketdata.lake import Lake
from monitoring.alerts import AlertSink
from monitoring.scorer_runs import write_run_summary
from serving.app.alerting import LiveAlerts
from serving.app.http_api import Metrics, serve_http
from serving.app.loop import ScoringLoop
from serving.app.reload import ChampionWatcher, load_champion
from serving.app.settings import ServeSettings
from serving.app.warmup import warm_up
from serving.io.checkpoint import CheckpointWriter
from serving.io.checkpoint_store import CheckpointStore, InProcessCheckpointStore, RedisCheckpointStore
from serving.io.kafka_sources import KafkaBarsSource, KafkaTickSource
from serving.io.online_store import InProcessOnlineStore, OnlineStore, RedisOnlineStore
from serving.io.outputs import KafkaDeadLetters, ListDeadLetters, Outputs, ShadowLog
from serving.io.sinks import KafkaSignalSink, ListSink
from serving.io.sources import LakeBarsSource, LakeTickSource, Source
from serving.step.feature_health import usual_shares
from serving.step.ingest import KINDS, TickAssembler
from serving.step.scorer import STAGES, CycleResult, Scorer

log = logging.getLogger(__name__)


def live_alerts(s: ServeSettings) -> LiveAlerts:
    """The log always; the webhook too when the settings name one (delivered off the cycle's thread)."""
    sink = AlertSink(s.alert_webhook_url, log=lambda _: None) if s.alert_webhook_url else None  # logged already
    return LiveAlerts(sink, s.alert_every_s)


def build_scorer(s: ServeSettings, alerts: LiveAlerts) -> Scorer:
    lake = Lake(s.lake)
    ref = lake.read("reference") if lake.exists("reference") else None
    ca = lake.read("corporate_actions") if lake.exists("corporate_actions") else None
    vix = lake.read("vix") if lake.exists("vix") else None  # live values: FeatureEngine.add_vix
    scorer = Scorer(FeatureEngine(ref, ca, vix=vix, ffd_d=s.ffd_d, step_threads=s.step_threads))
    model = load_champion(s.mlflow_tracking_uri, s.compile_trees)
    if model is None:
        alerts("no champion in the registry: serving the momentum fallback")
    else:
        scorer.set_model(model)
    return scorer


def summarize(cycles: list[CycleResult]) -> dict[str, Any]:
    busy = [c for c in cycles if c.symbols]
    out: dict[str, Any] = {
        "cycles": len(cycles),
        "scored_cycles": len(busy),
        "signals": sum(len(c.symbols) for c in busy),
        "sources": {s: sum(c.source == s for c in busy) for s in ("model", "fallback", "breaker")},
    }
    if busy:
        total = np.array([sum(c.timings_ms.get(st, 0.0) for st in STAGES) for c in busy])
        out["p50_ms"], out["p99_ms"], out["max_ms"] = (
            float(np.percentile(total, 50)),
            float(np.percentile(total, 99)),
            float(total.max()),
        )
        for st in STAGES:
            v = np.array([c.timings_ms.get(st, 0.0) for c in busy])
            out[f"{st}_p50_ms"], out[f"{st}_p99_ms"] = float(np.percentile(v, 50)), float(np.percentile(v, 99))
    return out


def restore_engine_state(scorer: Scorer, lake: Lake, day: dt.date) -> dt.date | None:
    """Start from the engine state the batch path left after the previous session, when the lake has it, so the
    served features continue exactly where `features_1m` did (symbol ids included); the session it is from. A
    state from another feature set is refused (:class:`features.engine.StateMismatch`), never continued."""
    from features.state_io import loads

    earlier = [d for d in lake.dates("engine_state") if d < day] if lake.exists("engine_state") else []
    if not earlier:
        return None
    path = f"{lake.path('engine_state', earlier[-1])}/state.npz"
    with lake.fs.open_input_stream(path) as f:
        blob = f.read()
    try:
        scorer.online.state = loads(blob)
    except StateMismatch as e:
        raise StateMismatch(f"the lake's engine state after {earlier[-1]}: {e}") from None
    scorer.last_minute = scorer.online.state.last_ts
    seed_health(scorer, lake, earlier[-1])
    return earlier[-1]


def seed_health(scorer: Scorer, lake: Lake, day: dt.date, minutes: int = 60) -> bool:
    """The live health monitor's usual missing shares from the batch path's session ``day`` (its bars' quotes and
    its `features_1m` rows, the last ``minutes`` of them), when the lake has both: a scorer that starts during a
    quote outage alerts within minutes instead of taking the outage for the norm. False (the monitor learns from
    the cycles) otherwise. Reads only the columns it needs and keeps only the last minutes' rows (5,000 symbols:
    ~1 s and ~0.1 GB, against 7 s and 1 GB for the whole day's tables)."""
    import pyarrow.parquet as pq

    from marketdata.quotes import usable_quote

    paths = [f"{lake.path(d, day)}/part-0.parquet" for d in ("features_1m", "bars_1m")]
    if any(lake.fs.get_file_info(p).type != pafs.FileType.File for p in paths):
        return False
    stamps = np.unique(
        pq.read_table(paths[1], columns=["ts"], filesystem=lake.fs).column("ts").cast(pa.int64()).to_numpy()
    )
    if not len(stamps):
        return False
    since = pa.scalar(int(stamps[-minutes:][0]), pa.int64()).cast(pa.timestamp("ns", "UTC"))
    read = lambda p, cols: pq.read_table(p, columns=cols, filters=[("ts", ">=", since)], filesystem=lake.fs)  # noqa: E731
    b, f = read(paths[1], ["ts", "bid", "ask"]), read(paths[0], ["ts", *scorer.engine.names])
    if f.num_rows == 0:
        return False
    quotes = usual_shares(b.column("ts").cast(pa.int64()).to_numpy(), ~usable_quote(b)[:, None], minutes)
    cols = np.column_stack([f.column(n).to_numpy(zero_copy_only=False) for n in scorer.engine.names])
    feat = usual_shares(f.column("ts").cast(pa.int64()).to_numpy(), np.isnan(cols.astype(float)), minutes)
    scorer.health.seed(np.r_[quotes, feat])
    return True


def start_live(scorer: Scorer, lake: Lake, day: dt.date) -> str:
    """Kafka mode's starting state, before the loop looks for its checkpoint (which, when there is one, is newer and
    replaces it): the batch path's state from the last session before ``day``, else a cold engine. Returns what
    happened, for the console."""
    got = restore_engine_state(scorer, lake, day)
    if got is None:
        return (
            f"engine state: none in the lake before {day}; starting cold unless a checkpoint is found (every window "
            "fills again, and symbol ids follow today's order, not the training data's)"
        )
    return f"engine state: the batch path's after {got}, unless a checkpoint is found"


def market_today() -> dt.date:
    """Today's date in New York, the market's."""
    from marketdata.calendar import NY

    return dt.datetime.now(NY).date()


def health(scorer: Scorer, store: OnlineStore, loop: ScoringLoop, alerts: LiveAlerts) -> dict:
    """The ``/health`` body: what is served, and how each part is doing."""
    m, w = scorer.model, loop.writer
    ckpt = {"age_s": round(w.age_s, 1), "minute": w.last_minute, **w.stats, "last_error": w.last_error} if w else None
    store_ok = getattr(store, "healthy", True)
    return {
        "status": "ok" if store_ok and (w is None or not w.last_error) else "degraded",
        "last_minute": scorer.last_minute,
        "breaker": scorer.breaker.tripped,
        "model_version": m.version if m else None,
        "compiled": bool(m and m.compiled),
        "inference_runtime": m.runtime
        if m
        else None,  # blockwalk, forest, lleaves or lightgbm (serving.inference.model_runtime)
        "feature_set_version": scorer.engine.version,
        "store_healthy": store_ok,
        "store_outages": getattr(store, "outages", 0),
        "checkpoint": ckpt,
        "dead_letters": loop.dead_letters,
        "alerts": dict(alerts.counts),  # raised, sent, held back, failed
        "features_missing": scorer.health.missing,  # in an outage across the cross-section now
        **scorer.counters,
    }


def build_loop(s: ServeSettings, scorer: Scorer, alerts: LiveAlerts, day: dt.date, console: Any) -> ScoringLoop:
    """The parts of ``s.mode`` around ``scorer``: source, outputs, dead letters, checkpoints."""
    lake = Lake(s.lake)
    engine = scorer.engine
    store: OnlineStore = (
        RedisOnlineStore(s.redis_url, engine.version) if s.redis_url else InProcessOnlineStore(engine.version)
    )
    shadow = ShadowLog(lake, engine, s.shadow_flush_minutes, metadata=lambda: engine.metadata(scorer.online.state))
    source: Source
    ckpt: CheckpointStore = InProcessCheckpointStore(s.group)  # a replay is a batch: it never resumes
    built: list[ScoringLoop] = []  # the loop, once built (a takeover restores its newest checkpoint)
    if s.mode == "inprocess":
        restore_engine_state(scorer, lake, day)
        ticks = lake.exists("trades") and day in lake.dates("trades")
        source = LakeTickSource(lake, day) if ticks else LakeBarsSource(lake, day)
        assembler = TickAssembler(lateness_ns=0)
        sink, dead = ListSink(), ListDeadLetters()
    else:
        console.print(start_live(scorer, lake, day))
        sink = KafkaSignalSink(s.kafka_bootstrap, s.topic("signals"), alert=alerts)
        dead = KafkaDeadLetters(s.kafka_bootstrap, s.topic("ticks.dlq"))
        if s.redis_url:
            ckpt = RedisCheckpointStore(s.redis_url, s.group)
        kinds = {s.topic(t): k for t, k in KINDS.items()}
        assembler = TickAssembler(universe(lake), lateness_ns=s.lateness_ms * 1_000_000, kinds=kinds)

        def owned(mine: set[tuple[str, int]], every: set[tuple[str, int]]) -> None:
            console.print(f"this scorer owns {len(mine)} of the input's {len(every)} partitions")
            if s.source == "ticks":
                assembler.assign(mine)
            if mine and mine != every:
                alerts(
                    f"this scorer owns {len(mine)} of {len(every)} input partitions: the rest are another member's "
                    "(the cross-section is split)"
                )
            if mine and built:
                taken = built[0].restore(only_newer=True)  # a standby taking over: the newest checkpoint
                sink.resume()  # and what the former owner published is not published again
                if taken is not None:
                    console.print(f"took over from the checkpoint after minute {taken}")

        def revoked() -> None:  # what was scored here is on the topic before another member takes over
            sink.wait_delivered(scorer.last_minute, 10.0)

        if s.source == "bars":
            source = KafkaBarsSource(s.kafka_bootstrap, s.group, s.bars_topic, on_assign=owned, on_revoke=revoked)
            console.print(f"consuming Flink's bars from {s.bars_topic} as group {s.group!r} on {s.kafka_bootstrap}")
        else:
            source = KafkaTickSource(s.kafka_bootstrap, s.group, tuple(kinds), on_assign=owned, on_revoke=revoked)
            console.print(f"consuming {'/'.join(kinds)} as group {s.group!r} on {s.kafka_bootstrap}")
    writer = CheckpointWriter(
        ckpt,
        base_every=s.checkpoint_base_every,
        alert=alerts,
        alert_after_s=s.checkpoint_alert_s,
        ready=lambda minute: sink.wait_delivered(minute, 30.0),
    )
    outputs = Outputs(sink, store, alerts, shadow)
    built.append(ScoringLoop(source, assembler, scorer, outputs, dead, writer))
    return built[0]


def universe(lake: Lake) -> set[str] | None:
    """The symbols the reference knows (ticks of others are dead-lettered), None without a reference."""
    return set(lake.read("reference").column("symbol").to_pylist()) if lake.exists("reference") else None


def run_serve(s: ServeSettings, date: str | None, idle_exit: float | None, console: Any) -> dict:
    alerts = live_alerts(s)
    lake = Lake(s.lake)
    if date:
        day = dt.date.fromisoformat(date)
    else:
        day = lake.dates("bars_1m")[-1] if s.mode == "inprocess" else market_today()
    scorer = build_scorer(s, alerts)
    loop = build_loop(s, scorer, alerts, day, console)
    warm_up(scorer.engine, scorer.model)
    resumed = loop.restore()
    if lake.exists("reference"):
        loop.outputs.store.prepare(lake.read("reference").column("symbol").to_pylist())
    if resumed is not None:
        console.print(f"resumed from the checkpoint after minute {resumed}: replaying from its offsets")
    metrics = Metrics()
    cycles: list[CycleResult] = []
    loop.outputs.observers += [metrics.observe, cycles.append]
    state = lambda: health(scorer, loop.outputs.store, loop, alerts)  # noqa: E731
    server = serve_http(state, loop.outputs.latest, metrics, s.http_host, s.http_port) if s.http_port else None
    watcher = ChampionWatcher(scorer, s.mlflow_tracking_uri, s.reload_every_s, s.compile_trees, alerts).start()
    try:
        loop.run(idle_seconds=idle_exit)
    finally:
        loop.close()
        watcher.stop()
        if server:
            server.shutdown()
        alerts.close()
    summary = summarize(cycles)
    if cycles:
        last = dt.datetime.fromtimestamp(cycles[-1].ts / 1e9, dt.UTC).date()
        write_run_summary(lake, last, summary)
    console.print(summary)
    return summary

"""Wiring for `tickwise serve`: build the scorer from settings and run it in-process or on Kafka."""

import datetime as dt
import logging
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

from features.batch import features_table
from features.engine import FeatureEngine, StateMismatch
from marketdata.lake import Lake
from monitoring.alerts import AlertSink
from serving.alerting import LiveAlerts
from serving.feature_health import usual_shares
from serving.gc_tuning import freeze_heap
from serving.http_api import Metrics, serve_http
from serving.online_store import InProcessOnlineStore, OnlineStore, RedisOnlineStore
from serving.reload import ChampionWatcher, load_champion
from serving.scorer import STAGES, CycleResult, Scorer
from serving.settings import ServeSettings
from serving.sinks import KafkaSignalSink, ListSink, SignalSink

log = logging.getLogger(__name__)


def live_alerts(s: ServeSettings) -> LiveAlerts:
    """The log always; the webhook too when the settings name one (delivered off the cycle's thread)."""
    sink = AlertSink(s.alert_webhook_url, log=lambda _: None) if s.alert_webhook_url else None  # logged already
    return LiveAlerts(sink, s.alert_every_s)


def build_scorer(s: ServeSettings, alerts: LiveAlerts | None = None) -> Scorer:
    lake = Lake(s.lake)
    ref = lake.read("reference") if lake.exists("reference") else None
    ca = lake.read("corporate_actions") if lake.exists("corporate_actions") else None
    vix = lake.read("vix") if lake.exists("vix") else None  # live values: FeatureEngine.add_vix
    engine = FeatureEngine(ref, ca, vix=vix, ffd_d=s.ffd_d)
    store: OnlineStore = (
        RedisOnlineStore(s.redis_url, engine.version) if s.redis_url else InProcessOnlineStore(engine.version)
    )
    sink: SignalSink = KafkaSignalSink(s.kafka_bootstrap, s.topic("signals")) if s.mode == "kafka" else ListSink()
    model = load_champion(s.mlflow_tracking_uri, s.compile_trees)
    scorer = Scorer(engine, store, sink, None, alert=alerts)
    if model is None:
        scorer.alert("no champion in the registry: serving the momentum fallback")
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


def flush_shadow(lake: Lake, scorer: Scorer, rows: list[tuple[int, list[str], np.ndarray]]) -> None:
    """Write the shadow rows held so far (and an in-process sink's signals), each to its own (UTC) day, and forget
    them."""
    from marketdata.lake import partition_dates

    sig = scorer.sink.table() if isinstance(scorer.sink, ListSink) else None
    when = partition_dates(sig, "ts") if sig is not None else np.empty(0, "datetime64[D]")
    row_days = np.array([ts for ts, _, _ in rows], "datetime64[ns]").astype("datetime64[D]")
    for day in np.union1d(row_days, when):  # the lake's partition day of each row and signal (UTC)
        mine = [r for r, d in zip(rows, row_days, strict=True) if d == day]
        signals = sig.filter(pa.array(when == day)) if sig is not None else None
        shadow_write(lake, scorer, day.astype(dt.date), mine, signals)
    rows.clear()
    if isinstance(scorer.sink, ListSink):
        scorer.sink.batches.clear()


def shadow_write(
    lake: Lake,
    scorer: Scorer,
    day: dt.date,
    rows: list[tuple[int, list[str], np.ndarray]],
    signals: pa.Table | None = None,
) -> None:
    """Shadow mode: log every served signal and feature row to the lake (`signals`, `features_served`), beside the
    day's earlier runs' rows (a restart from the checkpoint, another scale-out member), replacing only its own
    minutes' (:meth:`Lake.upsert_partition`). ``signals``: the day's (default: all an in-process sink holds)."""
    if signals is None and isinstance(scorer.sink, ListSink) and scorer.sink.batches:
        signals = scorer.sink.table()
    if signals is not None and signals.num_rows:
        lake.upsert_partition("signals", day, signals)
    if rows:
        syms = [s for _, ss, _ in rows for s in ss]
        tss = [t for t, ss, _ in rows for _ in ss]
        feats = features_table(scorer.engine, syms, tss, [r for _, _, r in rows])
        feats = feats.replace_schema_metadata(scorer.engine.metadata(scorer.online.state))
        lake.upsert_partition("features_served", day, feats)


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


def run_serve(s: ServeSettings, date: str | None, idle_exit: float | None, console: Any) -> dict:
    alerts = live_alerts(s)
    scorer = build_scorer(s, alerts)
    freeze_heap()  # built and warm: full GC passes stay out of the cycles
    metrics = Metrics()
    server = serve_http(scorer, metrics, s.http_host, s.http_port) if s.http_port else None
    watcher = ChampionWatcher(scorer, s.mlflow_tracking_uri, s.reload_every_s, s.compile_trees, alerts).start()
    shadow: list[tuple[int, list[str], np.ndarray]] = []
    orig = scorer.online.on_minute

    def on_minute(ts: int, bars: pa.Table):  # type: ignore[no-untyped-def]
        syms, rows = orig(ts, bars)
        if syms:
            shadow.append((ts, syms, rows.astype(np.float32)))
        return syms, rows

    scorer.online.on_minute = on_minute  # type: ignore[method-assign]
    cycles: list[CycleResult] = []
    try:
        if s.mode == "inprocess":
            from serving.replay import replay_day

            lake = Lake(s.lake)
            day = dt.date.fromisoformat(date) if date else lake.dates("bars_1m")[-1]
            restore_engine_state(scorer, lake, day)
            cycles = replay_day(scorer, lake, day)
            for c in cycles:
                metrics.observe(c)
            shadow_write(lake, scorer, day, shadow)
        else:
            from serving.ingest import RecordProcessor
            from serving.kafka_loop import CheckpointStore, KafkaScorerLoop

            lake = Lake(s.lake)
            console.print(start_live(scorer, lake, dt.date.fromisoformat(date) if date else market_today()))
            universe = set(lake.read("reference").column("symbol").to_pylist()) if lake.exists("reference") else None
            kinds = {s.topic("ticks.trades"): "trades", s.topic("ticks.quotes"): "quotes"}
            proc = RecordProcessor(scorer, universe, lateness_ns=s.lateness_ms * 1_000_000, kinds=kinds)

            def seen(c: CycleResult) -> None:
                cycles.append(c)
                metrics.observe(c)
                every = s.shadow_flush_minutes
                if every and len(shadow) >= every:  # after the cycle: the next minute's bars are a minute away
                    flush_shadow(lake, scorer, shadow)

            exchange = None
            if s.bars_topic:
                from serving.scaleout import BarExchange

                exchange = BarExchange(s.kafka_bootstrap, s.bars_topic)
            loop = KafkaScorerLoop(
                proc,
                s.kafka_bootstrap,
                s.group,
                CheckpointStore(s.group, s.redis_url),
                dlq_topic=s.topic("ticks.dlq"),
                topics=tuple(kinds),
                on_cycle=seen,
                exchange=exchange,
            )
            role = f", exchanging bars on {s.bars_topic!r} (scale-out)" if exchange else ""
            console.print(f"consuming {'/'.join(kinds)} as group {s.group!r} on {s.kafka_bootstrap}{role}")
            loop.run(idle_seconds=idle_exit)
            loop.close()
            if shadow:
                flush_shadow(lake, scorer, shadow)
    finally:
        watcher.stop()
        if server:
            server.shutdown()
        alerts.close()
    summary = summarize(cycles)
    if cycles:
        day = dt.datetime.fromtimestamp(cycles[-1].ts / 1e9, dt.UTC).date()
        write_run_summary(Lake(s.lake), day, summary)
    console.print(summary)
    return summary


def write_run_summary(lake: Lake, day: dt.date, summary: dict[str, Any]) -> None:
    """The run's figures (cycles, sources, latency percentiles per stage) beside the shadow log, where the
    drift report picks the latency up: ``run-<written at>.json`` for each run of the day (a restart adds one, it
    does not replace the morning's) and ``summary.json``, the latest."""
    import json

    d = lake.path("scorer_runs", day)
    lake.fs.create_dir(d, recursive=True)
    body = json.dumps({"day": str(day), **summary}, indent=1).encode()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    for name in (f"run-{stamp}.json", "summary.json"):
        with lake.fs.open_output_stream(f"{d}/{name}") as f:
            f.write(body)


def day_latency(lake: Lake, day: dt.date) -> dict[str, float] | None:
    """The day's scorer latency (every ``*_ms`` figure) over all its runs: each figure's worst run, since a
    latency target holds for the whole session. None without a run."""
    import json

    import pyarrow.fs as pafs

    sel = pafs.FileSelector(lake.path("scorer_runs", day), allow_not_found=True)
    names = sorted(i.path for i in lake.fs.get_file_info(sel) if i.base_name.startswith("run-"))
    if not names:  # a day served before runs were kept apart: its one summary
        one = f"{lake.path('scorer_runs', day)}/summary.json"
        names = [one] if lake.fs.get_file_info(one).type == pafs.FileType.File else []
    runs = []
    for n in names:
        with lake.fs.open_input_stream(n) as f:
            runs.append(json.loads(f.read()))
    keys = sorted({k for r in runs for k in r if k.endswith("_ms")})
    if not keys:
        return None
    return {k: max(float(r[k]) for r in runs if k in r) for k in keys}

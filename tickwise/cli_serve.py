"""Serving subcommands: serve, stream publish, bench scorer."""

import datetime as dt
import logging
import time

import typer
from pydantic import ValidationError
from rich.console import Console

console = Console()
log = logging.getLogger("tickwise.serve")


stream_app = typer.Typer(help="Kafka streams: replay lake ticks as a live feed.", no_args_is_help=True)


@stream_app.command("publish")
def publish(
    lake: str = typer.Option("data/lake", help="Lake with trades/quotes."),
    date: str = typer.Option(None, help="Day to publish (default: the last day with trades)."),
    speed: float = typer.Option(60.0, min=0.0, help="Times real time (60 = a market minute per second; 0 = max)."),
    batch_ms: float = typer.Option(
        10.0, min=0.1, help="Event time per message: each window's ticks go out as one message per kind and partition."
    ),
    bootstrap: str = typer.Option("127.0.0.1:19092", envvar="TICKWISE_KAFKA_BOOTSTRAP"),
    topic_prefix: str = typer.Option(
        "", envvar="TICKWISE_TOPIC_PREFIX", help="Prepended to the topic names, as `serve` reads them."
    ),
) -> None:
    """Replay a day of lake ticks into ticks.trades / ticks.quotes (halts: ticks.status) as a feed adapter would:
    batched by partition, paced, printing what went out each second."""
    from marketdata.lake import Lake
    from serving.io import kafka_io
    from tickwise.tools.publish import Sent, publish_day

    lk = Lake(lake)
    day = dt.date.fromisoformat(date) if date else lk.dates("trades")[-1]
    names = ["ticks.trades", "ticks.quotes", "ticks.status", "signals", "ticks.dlq"]
    kafka_io.ensure_topics(bootstrap, [f"{topic_prefix}{n}" for n in names])
    t0 = time.perf_counter()
    last = {"ticks": 0, "t": t0}

    def progress(s: Sent) -> None:
        now = time.perf_counter()
        rate = (s.ticks - last["ticks"]) / max(now - last["t"], 1e-9)
        last.update(ticks=s.ticks, t=now)
        behind = f", {s.behind_s * 1e3:.0f} ms behind schedule" if s.behind_s > 0.05 else ""
        console.print(
            f"[{now - t0:6.1f} s] {s.ticks:>12,} ticks in {s.messages:,} messages; {rate:,.0f} ticks/s{behind}"
        )

    n = publish_day(lk, day, bootstrap, speed, prefix=f"{topic_prefix}ticks", batch_ms=batch_ms, progress=progress)
    took = time.perf_counter() - t0
    console.print(f"published {n:,} ticks of {day} to {bootstrap} in {took:.1f} s ({n / max(took, 1e-9):,.0f} ticks/s)")


def _now() -> dict:
    """The scorer's settings as the environment sets them now, for ``--help`` (a bad value there: the defaults)."""
    from serving.app.settings import ServeSettings

    try:
        return ServeSettings().model_dump()
    except ValidationError:
        return {k: f.default for k, f in ServeSettings.model_fields.items()}


_NOW = _now()


def _default(key: str) -> str:
    return f"(now {_NOW[key] if _NOW[key] is not None else 'none'}; env TICKWISE_{key.upper()})"


def serve(
    mode: str = typer.Option(None, help=f"'inprocess' (lake replay, embedded) or 'kafka'. {_default('mode')}"),
    source: str = typer.Option(
        None,
        help="Kafka mode's input: 'ticks' (the tick topics, bars built in this process) or 'bars' (the Flink job's "
        f"bars topic, `tickwise flink submit`; implies --mode kafka). {_default('source')}",
    ),
    bars_topic: str = typer.Option(None, help=f"The Flink job's bars topic (--source bars). {_default('bars_topic')}"),
    lake: str = typer.Option(
        None, help=f"Lake (reference, corporate actions; the replay source in-process). {_default('lake')}"
    ),
    date: str = typer.Option(
        None,
        help="In-process: the day to replay (default: the last). Kafka mode: the session about to be scored "
        "(default: today in New York); without a checkpoint, the engine starts from the lake's state before it.",
    ),
    kafka_bootstrap: str = typer.Option(None, help=f"Kafka bootstrap servers. {_default('kafka_bootstrap')}"),
    redis_url: str = typer.Option(
        None, help=f"Redis URL for features, signals and checkpoints (none: in-process). {_default('redis_url')}"
    ),
    http_port: int = typer.Option(None, help=f"HTTP API port (0 = off). {_default('http_port')}"),
    idle_exit: float = typer.Option(None, help="Kafka mode: exit after this many idle seconds (default: never)."),
) -> None:
    """Score the live cross-section each minute with the MLflow champion; serve features and signals.

    The champion is the registered model `direction_model` with the alias `champion`, read from
    TICKWISE_MLFLOW_TRACKING_URI (now: {uri}) and reloaded when the alias moves. Each minute's features and
    signals go to Redis (--redis-url), the signals also to the Kafka topic `signals` in kafka mode. The HTTP API
    (--http-port) serves GET /signals, /signals/{{symbol}}, /health and /metrics (Prometheus). Every flag has a
    TICKWISE_* variable; a flag wins over it.
    """
    from serving.app.runtime import run_serve
    from serving.app.settings import ServeSettings

    flags = {
        k: v
        for k, v in {
            "mode": mode,
            "source": source,
            "bars_topic": bars_topic,
            "lake": lake,
            "kafka_bootstrap": kafka_bootstrap,
            "redis_url": redis_url,
            "http_port": http_port,
        }.items()
        if v is not None
    }
    try:
        settings = ServeSettings(**flags)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(map(str, first["loc"])) or "combination"
        raise ValueError(f"bad serve setting {where}: {first['msg'].removeprefix('Value error, ')}") from None
    run_serve(settings, date, idle_exit, console)


serve.__doc__ = (serve.__doc__ or "").format(uri=_NOW["mlflow_tracking_uri"])


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    app.add_typer(stream_app, name="stream")
    app.command("serve")(serve)
    from tickwise.cli_bench_scorer import bench_scorer

    bench_app.command("scorer")(bench_scorer)
    from tickwise.cli_bench_scorer import bench_e2e, bench_inference, bench_ingest

    bench_app.command("e2e")(bench_e2e)
    bench_app.command("ingest")(bench_ingest)
    bench_app.command("inference")(bench_inference)
    from tickwise.cli_flink import bench_flink

    bench_app.command("flink")(bench_flink)

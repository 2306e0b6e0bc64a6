"""`tickwise bench scorer`."""

import os

import typer
from rich.console import Console
from rich.table import Table

from tickwise.bench_io import JSON_OPTION, write_json

console = Console()


def bench_scorer(
    symbols: int = typer.Option(5000, min=13, help="Cross-section size."),
    cycles: int = typer.Option(60, min=1, help="Measured cycles (minutes) after a 30-minute warm-up."),
    json_path: str = JSON_OPTION,
    redis_url: str = typer.Option(
        os.environ.get("TICKWISE_REDIS_URL", "redis://127.0.0.1:6390/0"),
        help="Real Redis (start one with `make services`).",
    ),
    bootstrap: str = typer.Option(
        os.environ.get("TICKWISE_KAFKA_BOOTSTRAP", "127.0.0.1:19092"),
        help="Kafka for the signal publish ('' = in-process sink).",
    ),
    trees: int = typer.Option(500, min=1, help="Model trees."),
    leaves: int = typer.Option(63, min=2, help="Model leaves per tree."),
    history_days: int = typer.Option(
        1,
        min=0,
        help="Sessions folded offline before the measured one; the scorer starts from their engine state, as "
        "`tickwise serve` restores the lake's (0 = a cold engine, whose windows are still filling).",
    ),
) -> None:
    """Full cycles (finalize -> features -> inference -> Redis -> publish): p50/p99/max per stage and in total.

    The measured session follows --history-days earlier ones whose engine state the scorer starts from, so the
    cycles see the steady state: every feature window filled, FFD's included."""
    from serving.bench import run

    res = run(
        symbols, cycles, redis_url, bootstrap or None, trees, leaves, history_days=history_days, log=console.print
    )
    t = Table(
        title=f"scorer: {symbols:,} symbols, {res['trees']} trees x {res['leaves']} leaves, "
        f"{res['scored_cycles']} cycles, store {res['store']}, sink {res['sink']}, "
        f"state from {history_days} earlier session(s)"
    )
    for c in ("stage", "p50 ms", "p99 ms"):
        t.add_column(c, justify="right")
    for st in ("finalize", "features", "inference", "store", "publish"):
        t.add_row(st, f"{res[f'{st}_p50_ms']:.2f}", f"{res[f'{st}_p99_ms']:.2f}")
    t.add_row("TOTAL", f"{res['p50_ms']:.2f}", f"{res['p99_ms']:.2f} (max {res['max_ms']:.2f})")
    console.print(t)
    console.print(
        f"ingest (outside the cycle, as ticks arrive): {res['ticks_per_minute']:,} ticks/min in "
        f"{res['polls_per_minute']} polls; per poll p50 {res['ingest_batch_p50_ms']:.2f} ms, p99 "
        f"{res['ingest_batch_p99_ms']:.2f} ms; {res['ingest_per_minute_ms']:.0f} ms of CPU per minute"
    )
    console.print(
        f"target P99 < 50 ms: {'met' if res['p99_ms'] < 50 else 'NOT met'}; goal <= 10 ms: "
        f"{'met' if res['p99_ms'] <= 10 else 'not met'}"
    )
    write_json(json_path, res)


def bench_e2e(
    symbols: int = typer.Option(500, min=13, help="Symbols in the replayed stream."),
    minutes: int = typer.Option(5, min=1, help="Market minutes to replay."),
    speed: float = typer.Option(1.0, min=0.0, help="Times real time (1 = a live feed)."),
    lateness_ms: int = typer.Option(2000, min=0, help="Allowed lateness of the scorer's watermark."),
    json_path: str = JSON_OPTION,
    redis_url: str = typer.Option(
        os.environ.get("TICKWISE_REDIS_URL", "redis://127.0.0.1:6390/0"), help="Real Redis ('' = in-process)."
    ),
    bootstrap: str = typer.Option(os.environ.get("TICKWISE_KAFKA_BOOTSTRAP", "127.0.0.1:19092"), help="Kafka."),
) -> None:
    """A tick's produce time to its signal on Kafka (real broker), per minute: p50/p99/max."""
    from serving.bench_e2e import run

    res = run(symbols, minutes, bootstrap, redis_url or None, speed, lateness_ms, log=console.print)
    t = Table(
        title=f"end to end: {symbols:,} symbols, {minutes} min at {speed}x, {res['signals_messages']} signal msgs"
    )
    for c in ("", "p50 ms", "p99 ms"):
        t.add_column(c, justify="right")
    t.add_row("last tick produced -> signal on Kafka", f"{res['e2e_p50_ms']:.1f}", f"{res['e2e_p99_ms']:.1f}")
    t.add_row(
        f"  of which the lateness wait ({lateness_ms} ms / {speed}x)",
        f"{res['lateness_wait_ms']:.1f}",
        f"{res['lateness_wait_ms']:.1f}",
    )
    t.add_row(
        "  processing (broker, poll, aggregate, cycle, produce)",
        f"{res['processing_p50_ms']:.1f}",
        f"{res['processing_p99_ms']:.1f}",
    )
    console.print(t)
    write_json(json_path, res)

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
    from tickwise.tools.bench_scorer import run

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
    symbols: int = typer.Option(5000, min=13, help="Symbols in the replayed stream."),
    minutes: int = typer.Option(10, min=2, help="Market minutes to replay, from the open."),
    ticks_per_second: float = typer.Option(
        50_000, min=100, help="The stream's average rate: the simulator's calibrated rates, scaled to it."
    ),
    speed: float = typer.Option(1.0, min=0.1, help="Times real time (1 = a live feed)."),
    lateness_ms: int = typer.Option(2000, min=0, help="Allowed lateness of the scorer's watermark."),
    batch_ms: float = typer.Option(10.0, min=0.1, help="The publisher's batching window (feed-adapter messages)."),
    trees: int = typer.Option(500, min=0, help="Model trees (0 = no model: the momentum fallback)."),
    leaves: int = typer.Option(63, min=2, help="Model leaves per tree."),
    json_path: str = JSON_OPTION,
    redis_url: str = typer.Option(
        os.environ.get("TICKWISE_REDIS_URL", "redis://127.0.0.1:6390/0"), help="Real Redis (`make services`)."
    ),
    bootstrap: str = typer.Option(os.environ.get("TICKWISE_KAFKA_BOOTSTRAP", "127.0.0.1:19092"), help="Kafka."),
) -> None:
    """The live path end to end: a minute's last tick produced -> its signal on Kafka, per minute, with the
    publisher in its own process at a realistic rate, the real broker, the Kafka scorer loop with the Redis store
    and the Redis checkpoint. Prints processing p50/p99/max (the lateness wait taken out), the sustained tick rate,
    the consumer lag and the checkpoint's size and write time."""
    from tickwise.tools.bench_e2e import run

    res = run(
        symbols, minutes, bootstrap, redis_url, ticks_per_second, speed, lateness_ms, batch_ms, trees, leaves,
        log=console.print,
    )  # fmt: skip
    t = Table(title=f"end to end: {symbols:,} symbols, {minutes} min at {speed}x, {res['ticks']:,} ticks")
    for c in ("", "p50", "p99", "max"):
        t.add_column(c, justify="right")
    t.add_row(
        "processing ms (last tick -> signal - lateness)",
        f"{res['processing_p50_ms']:.1f}", f"{res['processing_p99_ms']:.1f}", f"{res['processing_max_ms']:.1f}",
    )  # fmt: skip
    cyc = res["cycle"]
    t.add_row(
        "  of which the cycle ms",
        f"{cyc.get('p50_ms', 0):.1f}",
        f"{cyc.get('p99_ms', 0):.1f}",
        f"{cyc.get('max_ms', 0):.1f}",
    )
    console.print(t)
    console.print(
        f"sustained {res['ticks_per_second']:,.0f} ticks/s consumed; consumer lag max {res['lag_max_s']:.2f} s; "
        f"{res['cycles']} cycles; checkpoint {res['checkpoint_bytes'] / 1e6:.2f} MB, write p99 "
        f"{res['checkpoint_p99_ms'] or 0:.0f} ms (off the cycle path); dead letters {res['dead_letters']}"
    )
    met = res["processing_p99_ms"] < 50
    console.print(f"target processing p99 < 50 ms: {'met' if met else 'NOT met'}; goal <= 10 ms: "
                  f"{'met' if res['processing_p99_ms'] <= 10 else 'not met'}")  # fmt: skip
    write_json(json_path, res)


def bench_ingest(
    symbols: int = typer.Option(5000, min=13, help="Symbols in the stream."),
    minutes: int = typer.Option(5, min=1, help="Market minutes, from the open."),
    ticks_per_second: float = typer.Option(50_000, min=100, help="The stream's average rate (calibrated, scaled)."),
    batch_ms: float = typer.Option(10.0, min=0.1, help="Feed-adapter batching window (messages' size)."),
    json_path: str = JSON_OPTION,
) -> None:
    """Ticks decoded, screened and folded into the partial bars, one process, one core, on a realistic stream
    batched as feed adapters send it. Target >= 500,000 ticks/s (goal 1,000,000)."""
    from tickwise.tools.bench_ingest import run

    res = run(symbols, minutes, ticks_per_second, batch_ms, log=console.print)
    console.print(
        f"ingest: {res['ticks']:,} ticks in {res['seconds']:.2f} s = [bold]{res['ticks_per_second']:,.0f} ticks/s[/] "
        f"({res['ticks_per_message']:.0f} ticks a message; poll p50 {res['poll_p50_ms']:.1f} ms, p99 "
        f"{res['poll_p99_ms']:.1f} ms); peak RSS {res['peak_rss_mb']:,.0f} MB (the stream held in memory included)"
    )
    met = res["ticks_per_second"] >= 500_000
    console.print(f"target >= 500,000 ticks/s: {'met' if met else 'NOT met'}; goal 1,000,000: "
                  f"{'met' if res['ticks_per_second'] >= 1e6 else 'not met'}")  # fmt: skip
    write_json(json_path, res)


def bench_inference(
    rows: int = typer.Option(5000, min=1, help="Rows per prediction (the cross-section)."),
    trees: int = typer.Option(500, min=1, help="Trees."),
    leaves: int = typer.Option(63, min=2, help="Leaves per tree."),
    max_depth: int = typer.Option(8, help="Trees' max depth (-1: unbounded, leaf-wise)."),
    categorical: bool = typer.Option(
        True, "--categorical/--numeric-ids", help="symbol_id and sector_id as LightGBM categoricals, as trained."
    ),
    calls: int = typer.Option(200, min=10, help="Timed predictions per runtime."),
    lleaves_limit_s: float = typer.Option(600.0, min=1, help="Give up lleaves' compile after this many seconds."),
    json_path: str = JSON_OPTION,
) -> None:
    """Each inference runtime (the compiled forest, lleaves, LightGBM) on the production-shaped model, in one run:
    build seconds, p50/p99 ms, ns per tree and row, and the largest difference from LightGBM's predict."""
    from tickwise.tools.bench_inference import run

    res = run(rows, trees, leaves, max_depth, categorical, calls, lleaves_limit_s, log=console.print)
    t = Table(title=f"inference: {rows:,} rows, {res['trees']} trees x {leaves} leaves, categorical {categorical}")
    for c in ("runtime", "build s", "p50 ms", "p99 ms", "ns/tree·row", "max |diff|"):
        t.add_column(c, justify="right")
    for r in res["runtimes"]:
        if r.get("p50_ms") is None:
            t.add_row(r["runtime"], r.get("note", "-"), "-", "-", "-", "-")
            continue
        t.add_row(r["runtime"], f"{r['build_s']:.1f}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}",
                  f"{r['ns_per_tree_row']:.1f}", f"{r['max_abs_diff']:.0e}")  # fmt: skip
    console.print(t)
    console.print(f"target p99 <= 5 ms, build <= 60 s: {'met' if res['p99_ms'] <= 5 and res['build_s'] <= 60 else 'NOT met'}"
                  f" ({res['runtime']}: p99 {res['p99_ms']:.1f} ms, build {res['build_s']:.1f} s)")  # fmt: skip
    write_json(json_path, res)

"""``tickwise flink``: the ticks -> bars job on Apache Flink (decision 036).

``bars`` runs the job bounded over lake files on a local mini-cluster (how its bars are compared with the Python
aggregator's); ``submit`` deploys the streaming job on the session cluster ``make services`` starts; ``stop`` takes
a savepoint and stops it (resume with ``submit --savepoint``, at any parallelism); ``status`` shows the cluster.
"""

import json
import os
from pathlib import Path

import typer

flink_app = typer.Typer(
    help="The ticks -> bars job on Apache Flink: run it bounded over lake files, or deploy it on a cluster.",
    no_args_is_help=True,
)

_REST = typer.Option(
    os.environ.get("TICKWISE_FLINK_URL", "http://127.0.0.1:18081"),
    "--rest",
    help="The session cluster's REST address (env TICKWISE_FLINK_URL; `make services` starts one on 18081).",
)


def _table(path: str, dataset: str):  # type: ignore[no-untyped-def]
    """A file (CSV/Parquet, contract columns) or a lake dataset folder (``<lake>/trades`` or one ``date=`` day)."""
    import pyarrow.parquet as pq

    from marketdata.loaders import read_any
    from marketdata.validate import conform

    p = Path(path)
    if not p.exists():
        raise typer.BadParameter(f"{path}: no such file or folder", param_hint=f"--{dataset}")
    raw = pq.read_table(p) if p.is_dir() else read_any(path)
    return conform(raw, dataset, path)


def bars_cmd(
    trades: str = typer.Option(..., "--trades", help="Trades: a CSV/Parquet file or a lake folder (lake/trades)."),
    quotes: str | None = typer.Option(None, "--quotes", help="NBBO quotes, the same way (optional)."),
    halts: str | None = typer.Option(None, "--halts", help="Halts (symbol, start, end), the same way (optional)."),
    out: str = typer.Option(..., "--out", help="A lake root to write bars_1m (and rejects, if any) into."),
    parallelism: int = typer.Option(1, "--parallelism", min=1, help="Flink parallelism of the bounded run."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Ticks -> 1-minute bars with the Flink job, bounded over files, every minute closed at their end.

    The same job as the streaming one (the aggregator's rules per symbol in the JVM) on a local mini-cluster; its
    bars equal `marketdata.aggregate`'s bar for bar and it refuses the same ticks for the same reasons. Needs Java
    17 and Maven (the job is built on first use)."""
    from marketdata.lake import Lake
    from serving import flink

    t = _table(trades, "trades")
    q = _table(quotes, "quotes") if quotes else None
    h = _table(halts, "halts") if halts else None
    run = flink.bars(t, q, h, parallelism=parallelism)
    lake = Lake(out)
    days = lake.write("bars_1m", run.bars, source="flink") if run.bars.num_rows else []
    if run.rejects.num_rows:
        lake.write("rejects", run.rejects, source="flink")
    summary = {
        "ticks": t.num_rows + (q.num_rows if q is not None else 0),
        "bars": run.bars.num_rows,
        "rejects": run.rejects.num_rows,
        "days": [d.isoformat() for d in days],
        "seconds": round(run.seconds, 2),
        "out": out,
    }
    if as_json:
        print(json.dumps(summary))
        return
    print(
        f"{summary['bars']:,} bars from {summary['ticks']:,} ticks ({summary['rejects']:,} refused) in "
        f"{summary['seconds']:.1f} s -> {out}/bars_1m ({', '.join(summary['days']) or 'no days'})"
    )


def submit_cmd(
    rest: str = _REST,
    bootstrap: str = typer.Option(
        os.environ.get("TICKWISE_KAFKA_BOOTSTRAP", "127.0.0.1:19092"), "--bootstrap", help="Kafka bootstrap servers."
    ),
    parallelism: int = typer.Option(1, "--parallelism", min=1, help="Parallelism (task slots) of the job."),
    savepoint: str | None = typer.Option(None, "--savepoint", help="Resume from this savepoint (from `stop`)."),
    trades_topic: str = typer.Option("ticks.trades", "--trades-topic"),
    quotes_topic: str = typer.Option("ticks.quotes", "--quotes-topic"),
    status_topic: str = typer.Option("ticks.status", "--status-topic"),
    bars_topic: str = typer.Option("bars.1m", "--bars-topic", help="Where the bars go (exactly once)."),
    dead_letter_topic: str = typer.Option("ticks.dead", "--dead-letter-topic", help="Refused ticks, with reasons."),
    lateness_ms: int = typer.Option(2000, "--lateness-ms", help="Watermark lag behind the slowest partition."),
    idle_ms: int = typer.Option(5000, "--idle-ms", help="A partition silent this long stops holding bars back."),
    startup_idle_ms: int = typer.Option(
        30_000, "--startup-idle-ms", help="A partition that has not delivered yet holds bars back this long."
    ),
    checkpoint_ms: int = typer.Option(1000, "--checkpoint-ms", help="Checkpoint interval: bars commit at each."),
    lake: str = typer.Option(
        "",
        "--lake",
        help="Also write the raw trades and quotes and the bars into this lake (exactly once; a file "
        "lands at each checkpoint): <lake>/<dataset>/date=YYYY-MM-DD/part-flink-*.parquet.",
    ),
) -> None:
    """Deploy the streaming ticks -> bars job on the session cluster; prints its job id.

    Bars reach the bars topic in Kafka transactions committed at each checkpoint (read them `read_committed`), one
    message per minute and subtask whose headers say how far the subtask has got."""
    from serving import flink_cluster

    job = flink_cluster.StreamJob(
        bootstrap,
        trades_topic,
        quotes_topic,
        status_topic,
        bars_topic,
        dead_letter_topic,
        lateness_ms=lateness_ms,
        idle_ms=idle_ms,
        startup_idle_ms=startup_idle_ms,
        checkpoint_ms=checkpoint_ms,
        lake=lake,
    )
    job_id = flink_cluster.submit(job, rest, parallelism=parallelism, savepoint=savepoint)
    print(job_id)


def stop_cmd(
    job_id: str = typer.Argument(..., help="The job id (`submit` printed it; `status` lists them)."),
    savepoint_dir: str = typer.Option(..., "--savepoint-dir", help="Where the savepoint goes (file:// or a path)."),
    rest: str = _REST,
) -> None:
    """Stop the job with a savepoint; prints the savepoint's path (resume with `submit --savepoint PATH`)."""
    from serving import flink_cluster

    target = savepoint_dir if "://" in savepoint_dir else f"file://{Path(savepoint_dir).resolve()}"
    print(flink_cluster.stop_with_savepoint(rest, job_id, target))


def status_cmd(rest: str = _REST) -> None:
    """The cluster's TaskManagers and slots, and its jobs with their state."""
    from serving import flink_cluster

    print(json.dumps(flink_cluster.overview(rest), indent=2))


def bench_flink(
    symbols: int = typer.Option(5000, min=13, help="Symbols in the replayed stream."),
    ticks_per_second: float = typer.Option(
        50_000, min=100, help="The stream's average rate: the simulator's calibrated rates, scaled to it."
    ),
    parallelism: int = typer.Option(1, min=1, help="The Flink job's parallelism (task slots)."),
    minutes: int = typer.Option(4, min=2, help="Market minutes to replay at real time, from the open."),
    checkpoint_ms: int = typer.Option(1000, min=100, help="Checkpoint interval (bars commit at each)."),
    json_path: str | None = typer.Option(None, "--json", help="Also write the figures to this JSON file."),
    rest: str = _REST,
    bootstrap: str = typer.Option(os.environ.get("TICKWISE_KAFKA_BOOTSTRAP", "127.0.0.1:19092"), help="Kafka."),
) -> None:
    """Ticks through Kafka -> the Flink job -> the bars topic at a real feed's pace, beside the in-process Python
    path on the same stream: the sustained rate and a minute's last tick -> its whole cross-section of bars
    (p50/p99, the lateness wait taken out; the session's first minute is left out, and its last never closes: no
    later tick moves the watermark past it, so --minutes 4 measures 2). Needs `make services`."""
    from tickwise.tools.bench_flink import run

    res = run(symbols, minutes, bootstrap, rest, ticks_per_second, parallelism, checkpoint_ms=checkpoint_ms)
    py = res["python"]

    def ms(x: float | None) -> str:
        return "-" if x is None else f"{x:.0f}"

    print(
        f"{res['ticks']:,} ticks of {symbols:,} symbols at {res['ticks_per_second']:,.0f} ticks/s, "
        f"{res['minutes_measured']} minutes measured\n"
        f"  Flink (parallelism {parallelism}, checkpoint {checkpoint_ms} ms): last tick -> bars p50 "
        f"{ms(res['bar_latency_p50_ms'])} ms, p99 {ms(res['bar_latency_p99_ms'])} ms, max "
        f"{ms(res['bar_latency_max_ms'])} ms; {res['bars']:,} bars\n"
        f"  Python in-process (the scorer's ingest): p50 {ms(py['bar_latency_p50_ms'])} ms, p99 "
        f"{ms(py['bar_latency_p99_ms'])} ms, max {ms(py['bar_latency_max_ms'])} ms; {py['bars']:,} bars"
    )
    if json_path:
        Path(json_path).write_text(json.dumps(res, indent=2))


def register(app: typer.Typer) -> None:
    flink_app.command("bars")(bars_cmd)
    flink_app.command("submit")(submit_cmd)
    flink_app.command("stop")(stop_cmd)
    flink_app.command("status")(status_cmd)
    app.add_typer(flink_app, name="flink")

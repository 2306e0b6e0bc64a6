"""Data subcommands: simulate, ingest, aggregate, validate, bench simulator."""

import datetime as dt
import time

import typer
from rich.console import Console
from rich.table import Table

from tickwise.bench_io import JSON_OPTION, write_json
from tickwise.cli_ingest import ingest_app, progress

console = Console()


def simulate(
    symbols: int = typer.Option(500, min=13, help="Universe size, including SPY and the 11 sector ETFs."),
    days: int = typer.Option(5, min=1, help="Trading sessions to simulate (NYSE calendar)."),
    seed: int = typer.Option(1, help="Random seed: same seed, same market."),
    out: str = typer.Option("data/lake", help="Lake root (local path or s3://bucket/prefix)."),
    start: str = typer.Option("2026-03-02", help="First session on or after this date (YYYY-MM-DD)."),
    ticks: bool = typer.Option(False, "--ticks", help="Also write trades and quotes; bars are aggregated from them."),
    lead_lag: float = typer.Option(
        0.25, help="Share of a leader's minute return that followers show a minute late; 0 = unpredictable."
    ),
    regime_shift: int | None = typer.Option(
        None, "--regime-shift", help="0-based day from which volatility and correlations change."
    ),
    force: bool = typer.Option(False, "--force", help="Simulate into a lake that holds data from elsewhere."),
) -> None:
    """Simulate a market into the lake: bars_1m, halts, reference, corporate_actions (+ trades, quotes).

    The simulated days and the reference replace what the lake had: a lake holding data the simulator did not write
    (from `tickwise ingest`, say) is refused unless --force."""
    import pyarrow.fs as pafs

    from marketdata.inventory import inventory
    from marketdata.lake import Lake
    from marketdata.pipeline import simulate_to_lake
    from marketdata.simulator import SimConfig

    lake = Lake(out)
    mark = f"{lake.base}/.tickwise-simulated"
    theirs = lake.exists("reference") or lake.exists("bars_1m") or lake.exists("trades")
    if theirs and not force and lake.fs.get_file_info(mark).type == pafs.FileType.NotFound:
        held = ", ".join(d["dataset"] for d in inventory(lake))
        raise ValueError(
            f"{out} holds data the simulator did not write ({held}): simulating into it would replace its days and "
            "its reference. Choose another --out, or pass --force"
        )

    cfg = SimConfig(
        symbols=symbols,
        days=days,
        seed=seed,
        start=dt.date.fromisoformat(start),
        lead_lag=lead_lag,
        regime_shift_day=regime_shift,
    )
    t0 = time.perf_counter()
    with progress() as p:
        task = p.add_task(f"simulating {symbols} symbols", total=days)
        s = simulate_to_lake(cfg, lake, ticks=ticks, on_day=lambda d: p.advance(task))
    with lake.fs.open_output_stream(mark) as f:  # a later simulation may replace what this one wrote
        f.write(b"written by tickwise simulate\n")
    table = Table(title=f"simulated market -> {out}")
    for col in ("sessions", "bars", "trades", "quotes", "halts", "corporate actions", "seconds"):
        table.add_column(col, justify="right")
    counts = (s.bars, s.trades, s.quotes, s.halts, s.corporate_actions)
    table.add_row(f"{s.dates[0]}..{s.dates[-1]}", *(f"{v:,}" for v in counts), f"{time.perf_counter() - t0:.1f}")
    console.print(table)


def aggregate_cmd(
    lake: str = typer.Option("data/lake", help="Lake root with trades (and quotes, halts)."),
    date: list[str] = typer.Option(None, "--date", help="Day(s) to aggregate (default: every day with trades)."),
) -> None:
    """Aggregate the lake's trades and quotes into bars_1m (rejects land in the rejects dataset with reasons)."""
    import pyarrow as pa

    from marketdata.lake import Lake
    from marketdata.pipeline import aggregate_day
    from marketdata.rejects import AGGREGATOR, replace_rejects

    lk = Lake(lake)
    days = [dt.date.fromisoformat(d) for d in date] if date else lk.dates("trades")
    if not days:
        raise ValueError(f"no trades in lake {lake}")
    with progress() as p:
        task = p.add_task("aggregating", total=len(days))
        for d in days:
            bars, rejects = aggregate_day(lk, d)
            seen = pa.concat_arrays([bars.column("symbol").combine_chunks(), rejects.column("symbol").combine_chunks()])
            lk.merge_partition("bars_1m", d, bars, seen.drop_null(), source=f"aggregate {d}")  # ingested bars stay
            replace_rejects(lk, d, rejects, AGGREGATOR)  # a re-run replaces its own, never the ingest's
            p.console.print(f"{d}: {bars.num_rows:,} bars, {rejects.num_rows:,} rejects")
            p.advance(task)


def validate_cmd(path: str, dataset: str = typer.Option("bars_1m", help="Contract dataset name.")) -> None:
    """Check a file, a directory or a lake against the data contract."""
    from marketdata.lake import read_table

    t = read_table(path, dataset)
    console.print(f"{path}: {t.num_rows:,} {dataset} rows satisfy the contract")


bench_app = typer.Typer(help="Benchmarks that print the figures the issues name.", no_args_is_help=True)


@bench_app.command("simulator")
def bench_simulator(
    out: str = typer.Option("", help="Scratch lake (default: a temp dir, removed after)."),
    json_path: str = JSON_OPTION,
) -> None:
    """Bars for 5,000 symbols x 1 day (target <= 10 s) and ticks for 500 symbols x 1 day (target <= 60 s)."""
    import tempfile

    from marketdata.lake import Lake
    from marketdata.pipeline import simulate_to_lake
    from marketdata.simulator import SimConfig

    with tempfile.TemporaryDirectory() as tmp:
        root = out or tmp
        t0 = time.perf_counter()
        s1 = simulate_to_lake(SimConfig(symbols=5000, days=1), Lake(f"{root}/bars"))
        bars_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        s2 = simulate_to_lake(SimConfig(symbols=500, days=1), Lake(f"{root}/ticks"), ticks=True)
        ticks_s = time.perf_counter() - t0
    res = {
        "bars_5000x1_seconds": round(bars_s, 2),
        "bars_rows": s1.bars,
        "bars_target_seconds": 10,
        "ticks_500x1_seconds": round(ticks_s, 2),
        "ticks_trades": s2.trades,
        "ticks_quotes": s2.quotes,
        "ticks_target_seconds": 60,
    }
    t = Table(title="simulator benchmark (written to a lake, Parquet zstd)")
    for c in ("what", "rows", "seconds", "target", "ok"):
        t.add_column(c)
    t.add_row("bars 5,000 symbols x 1 day", f"{s1.bars:,}", f"{bars_s:.2f}", "<= 10", str(bars_s <= 10))
    t.add_row(
        "ticks 500 symbols x 1 day (+ bars)",
        f"{s2.trades + s2.quotes:,}",
        f"{ticks_s:.2f}",
        "<= 60",
        str(ticks_s <= 60),
    )
    console.print(t)
    write_json(json_path, res)


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
    app.add_typer(ingest_app, name="ingest")
    app.command("aggregate")(aggregate_cmd)
    app.command("validate")(validate_cmd)
    app.add_typer(bench_app, name="bench")

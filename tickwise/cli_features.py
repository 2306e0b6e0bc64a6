"""Feature subcommands: features (offline fold), replay (online, minute by minute), bench features."""

import time

import typer
from rich.console import Console

console = Console()

_BARS = typer.Option(..., "--bars", help="bars_1m: a Parquet file, a folder of them, or a lake root.")
_OUT = typer.Option(..., "--out", help="Output directory; features land in OUT/features_1m/date=.../part-0.parquet.")
_REF = typer.Option(None, "--reference", help="reference table (sector, leader); default: the lake's, else SPY only.")
_CA = typer.Option(None, "--corporate-actions", help="corporate_actions table; default: the lake's, else none.")


def _engine(bars: str, reference: str | None, ca: str | None):  # type: ignore[no-untyped-def]
    from features.engine import FeatureEngine
    from features.io import load_inputs

    table, ref, acts = load_inputs(bars, reference, ca)
    return table, FeatureEngine(ref, acts)


def features(bars: str = _BARS, out: str = _OUT, reference: str = _REF, corporate_actions: str = _CA) -> None:
    """Offline: fold the feature engine over the bars and write features_1m (version in the file metadata)."""
    from rich.progress import Progress

    from features.batch import fold, minute_grid
    from features.io import write_features

    table, engine = _engine(bars, reference, corporate_actions)
    total = len(minute_grid(table.column("ts").cast("int64").to_numpy()))
    t0 = time.perf_counter()
    with Progress(console=Console(stderr=True)) as p:
        task = p.add_task("features (offline fold)", total=total)
        feats, state = fold(engine, table, on_minute=lambda _: p.advance(task))
    paths = write_features(feats, out, engine, state)
    dt = time.perf_counter() - t0
    console.print(
        f"features_1m: {feats.num_rows:,} rows x {len(engine.names)} features, version {engine.version}, "
        f"{len(paths)} day(s) -> {out} in {dt:.1f} s"
    )


def replay(
    bars: str = _BARS,
    out: str = _OUT,
    reference: str = _REF,
    corporate_actions: str = _CA,
    checkpoint_every: int = typer.Option(0, help="Checkpoint and restore the state every N minutes."),
) -> None:
    """Online: drive the live engine minute by minute exactly as the scorer will; write the rows it would serve."""
    from features.io import write_features
    from features.online import replay as run

    table, engine = _engine(bars, reference, corporate_actions)
    t0 = time.perf_counter()
    feats, state = run(engine, table, checkpoint_every)
    paths = write_features(feats, out, engine, state)
    console.print(
        f"features_1m (served): {feats.num_rows:,} rows, version {engine.version}, {len(paths)} day(s) "
        f"-> {out} in {time.perf_counter() - t0:.1f} s"
    )


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    app.command("features")(features)
    app.command("replay")(replay)

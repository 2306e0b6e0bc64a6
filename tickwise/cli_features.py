"""Feature subcommands: features (offline fold), replay (online, minute by minute), bench features."""

import resource
import time
from collections.abc import Callable

import typer
from rich.console import Console
from rich.table import Table

from tickwise.bench_io import JSON_OPTION, write_json

console = Console()

_BARS = typer.Option(..., "--bars", help="bars_1m: a Parquet file, a folder of them, or a lake root.")
_OUT = typer.Option(..., "--out", help="Output directory; features land in OUT/features_1m/date=.../part-0.parquet.")
_REF = typer.Option(None, "--reference", help="reference table (sector, leader); default: the lake's, else SPY only.")
_CA = typer.Option(None, "--corporate-actions", help="corporate_actions table; default: the lake's, else none.")
FFD_D_OPTION = typer.Option(
    0.4,
    "--ffd-d",
    envvar="TICKWISE_FFD_D",
    min=0.01,
    max=2.0,
    help="FFD's differencing order d, two decimals (the feature ffd_<100 d>; `tickwise ffd-d` chooses one). Use the "
    "same d everywhere: a state or a model of another d is refused.",
)
_VIX = typer.Option(
    None, "--vix", help="VIX series (Parquet: ts, value) for mkt_vol; default: the lake's `vix`, else SPY realized vol."
)


def _inputs(  # type: ignore[no-untyped-def]
    bars: str, reference: str | None, ca: str | None, vix: str | None, ffd_d: float
):
    from features.engine import FeatureEngine
    from features.io import BarDays, load_context, load_vix

    check_ffd_d(ffd_d)
    days = BarDays(bars)
    ref, acts = load_context(bars, reference, ca)
    return days, FeatureEngine(ref, acts, vix=load_vix(bars, vix), ffd_d=ffd_d)


def check_ffd_d(ffd_d: float) -> None:
    """``--ffd-d`` before any work, naming the option."""
    from features.kernels.ffd import d_problem

    if problem := d_problem(ffd_d):
        raise ValueError(f"--ffd-d (TICKWISE_FFD_D) {problem}")


def _day_by_day(mode: str, inputs: tuple, out: str, run: Callable) -> None:
    """Both commands' loop: a day's bars in, its features_1m partition out, the engine state carried to the next
    day (so any number of days runs in one day's memory, and equals one continuous run)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from features.batch import minute_grid
    from features.io import write_features

    src, engine = inputs
    state, rows, paths = None, 0, []
    t0 = time.perf_counter()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as p:
        task = p.add_task(f"features ({mode})", total=len(src.days))
        for day in src.days:
            p.update(task, description=f"features ({mode}) {day}")
            day_bars = src.read(day)
            minutes = p.add_task("  minutes", total=len(minute_grid(day_bars.column("ts").cast("int64").to_numpy())))
            feats, state = run(engine, day_bars, state, lambda _t, m=minutes: p.advance(m))
            p.remove_task(minutes)
            paths += write_features(feats, out, engine, state)
            rows += feats.num_rows
            p.advance(task)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    served = " (served)" if mode == "online" else ""
    console.print(
        f"features_1m{served}: {rows:,} rows x {len(engine.names)} features, version {engine.version}, "
        f"{len(paths)} day(s) -> {out} in {time.perf_counter() - t0:.1f} s, peak RSS {peak:,.0f} MB"
    )


def features(
    bars: str = _BARS,
    out: str = _OUT,
    reference: str = _REF,
    corporate_actions: str = _CA,
    vix: str = _VIX,
    ffd_d: float = FFD_D_OPTION,
) -> None:
    """Offline: fold the feature engine over the bars and write features_1m (version in the file metadata).

    Days are folded one after another, the engine state carried from each to the next: a lake's history runs in
    one day's memory, and its rows equal one continuous fold."""
    from features.batch import fold

    def run(engine, day_bars, state, tick):  # type: ignore[no-untyped-def]
        return fold(engine, day_bars, state, on_minute=tick)  # the compiled fold reports a day's minutes at its end

    _day_by_day("offline fold", _inputs(bars, reference, corporate_actions, vix, ffd_d), out, run)


def replay(
    bars: str = _BARS,
    out: str = _OUT,
    reference: str = _REF,
    corporate_actions: str = _CA,
    vix: str = _VIX,
    checkpoint_every: int = typer.Option(0, min=0, help="Checkpoint and restore the state every N minutes."),
    ffd_d: float = FFD_D_OPTION,
) -> None:
    """Online: drive the live engine minute by minute exactly as the scorer will; write the rows it would serve.

    Days follow one another as in `features`, the live engine's state carried over, as the scorer starts a session
    from the state the last one left."""
    from features.online import replay as serve

    def run(engine, day_bars, state, tick):  # type: ignore[no-untyped-def]
        return serve(engine, day_bars, checkpoint_every, state, on_minute=tick)

    _day_by_day("online", _inputs(bars, reference, corporate_actions, vix, ffd_d), out, run)


def bench_features(
    symbols: int = typer.Option(5000, min=13, help="Universe size for the simulated day."),
    json_path: str = JSON_OPTION,
) -> None:
    """Offline rate (one core) vs a per-symbol TA-Lib loop, online step p50/p99, peak memory, on 1 simulated day.

    The offline rate is the whole batch fold (bars in, features_1m table out) with the compiled engine; the numpy
    reference kernels' rate is printed beside it. Both the fold and the TA-Lib loop get the bars in the lake's order
    (symbol, then time) and are timed best of 3 (a shared machine's least disturbed run), their runs alternating (each
    pair's own ratio is printed too). The online step replays the day 3 times from a fresh state, on the engine's
    default threads (two where the machine has two cores: a helper thread takes chunks of the minute's symbols) and,
    alternating with it, on one thread; each minute counts its best pass (the first pass is printed as measured);
    between minutes the engine prepares the next one, as the scorer does in its idle time (timed apart). A second
    table says where the time goes: each compiled stage of the fold (ns per row) and of the online step (p50 µs of
    CPU time, both threads' added), timed from inside with the CPU's cycle counter.

    Two rows help read the rest. "Kernels only" puts the fold's stages for the classic subset beside TA-Lib's calls
    (neither reads bars nor writes a table): what separates the ratio from 1 is then the rest of the feature set.
    "Machine control" times a plain numpy read of 10 MB once a minute: where its p99 is far above its p50, the
    machine itself stalls, and the step's first-pass tail is the machine's too."""

    import pyarrow as pa

    from features.bench import run
    from marketdata.simulator import MarketSimulator, SimConfig

    err = Console(stderr=True)
    err.print(f"simulating {symbols:,} symbols x 1 day")
    sim = MarketSimulator(SimConfig(symbols=symbols, days=1, seed=1))
    bars = pa.concat_tables([d.bars for d in sim.days()])
    res = run(bars, sim.reference(), sim.corporate_actions(), log=err.print)
    t = Table(title=f"feature engine benchmark: {res['symbols']:,} symbols x 1 day, {res['features']} features")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_column("target")
    t.add_row("offline rate, whole feature set (rows/s, 1 core)", f"{res['offline_rows_per_s']:,}", "")
    t.add_row("  numpy reference kernels (rows/s)", f"{res['offline_reference_rows_per_s']:,}", "")
    t.add_row("TA-Lib per-symbol loop, classic subset (rows/s)", f"{res['talib_rows_per_s']:,}", "")
    t.add_row("ratio (engine / TA-Lib)", f"{res['ratio_vs_talib']}", ">= 1, goal >= 3")
    t.add_row("  each alternated pair's ratio", " / ".join(str(r) for r in res["ratio_per_pair"]), "")
    t.add_row(
        "  kernels only: the fold's classic-subset stages vs TA-Lib's calls (ns/row)",
        f"{res['classic_stages_ns_per_row']} vs {res['talib_calls_ns_per_row']}",
        "not the target",
    )
    best = f"{res['online_step_threads']} threads, each minute's best of {res['online_passes']} passes"
    t.add_row(f"online step p50 (ms, {best})", f"{res['online_step_p50_ms']}", "")
    t.add_row(f"online step p99 (ms, {best})", f"{res['online_step_p99_ms']}", "<= 2, goal <= 0.5")
    t.add_row(
        "  on one thread: p50 / p99 (ms)",
        f"{res['online_one_thread_p50_ms']} / {res['online_one_thread_p99_ms']}",
        "",
    )
    t.add_row(
        "  one pass as measured: p50 / p99 (ms)",
        f"{res['online_one_pass_p50_ms']} / {res['online_one_pass_p99_ms']}",
        "",
    )
    t.add_row("  between minutes: prepare the next, p50 (ms)", f"{res['online_prepare_p50_ms']}", "off the step's path")
    m = res["machine_read_10mb_ms"]
    t.add_row(
        "  machine control: a 10 MB numpy read a minute, p50 / p99 / max (ms)",
        f"{m['p50']} / {m['p99']} / {m['max']}",
        "",
    )
    t.add_row("peak RSS (MB)", f"{res['peak_rss_mb']:,}", "< 4096")
    console.print(t)
    console.print(stage_table(res))
    write_json(json_path, res)


def ffd_d(
    bars: str = _BARS,
    corporate_actions: str = _CA,
    share: float = typer.Option(0.9, min=0.5, max=1.0, help="Share of the symbols the chosen d must make stationary."),
    max_symbols: int = typer.Option(500, min=1, help="Symbols tested, spread evenly over the sorted universe."),
    plot: str = typer.Option(None, "--plot", help="Also draw stationarity and memory kept against d as a PNG."),
    json_path: str = JSON_OPTION,
) -> None:
    """Choose FFD's d on training bars: for each symbol, the smallest d whose fractionally differentiated log price
    passes an ADF test (5 %), then the smallest d that does so for at least --share of them.

    Runs on the bars' closes in time order, split-adjusted with the corporate actions. The smallest d (0.1) needs
    ~1,030 bars of a symbol (its 503-weight window twice, plus 20), about 2.7 sessions; a symbol with too few bars
    for a d is tested on the larger ones only. Use only training data: the d chosen then becomes part of every
    feature row (TICKWISE_FFD_D for Dagster and serve, --ffd-d for the commands)."""
    import numpy as np
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from features.io import BarDays, load_context, log_closes
    from features.kernels.ffd import D_GRID, choose_d_across

    days = BarDays(bars)
    _, acts = load_context(bars, None, corporate_actions)
    series = log_closes(days, acts, max_symbols)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as p:
        task = p.add_task("ADF per symbol", total=len(series))

        def each():  # type: ignore[no-untyped-def]
            for lp in series.values():
                yield lp
                p.advance(task)

        d, picks = choose_d_across(each(), share)
    tested = [x for x in picks if x is not None]
    t = Table(title=f"FFD d on {len(days.days)} session(s): the smallest d that passes ADF, per symbol")
    for c in ("d", "symbols", "share at or below"):
        t.add_column(c, justify="right")
    below = [float(np.mean(np.array(tested) <= g + 1e-12)) if tested else 0.0 for g in D_GRID]
    for g, share_below in zip(D_GRID, below, strict=True):
        t.add_row(f"{g:g}", f"{sum(1 for x in tested if abs(x - g) < 1e-12):,}", f"{share_below:.0%}")
    console.print(t)
    if d is None:
        raise ValueError(f"{bars}: no symbol has enough bars to test any d (see --help)")
    console.print(
        f"d = {d:g}: stationary for {below[D_GRID.index(d)]:.0%} of {len(tested):,} "
        f"symbols ({len(picks) - len(tested):,} too short to test). Use it everywhere: TICKWISE_FFD_D={d:g} (Dagster, "
        "serve) or --ffd-d; then materialize features_1m from its first partition and retrain."
    )
    if plot:
        from features.ffd_plot import memory_kept, plot_ffd_choice

        kept = memory_kept(list(series.values())[:100], D_GRID)
        console.print(f"plot: {plot_ffd_choice(D_GRID, np.array(below), kept, d, share, plot)}")
    write_json(json_path, {"d": d, "share": share, "symbols_tested": len(tested), "too_short": len(picks) - len(tested),
                           "by_symbol": dict(zip(series, picks, strict=True))})  # fmt: skip


def stage_table(res: dict) -> Table:
    """Where the time goes: the fold's stages (ns per row) and the online step's (p50, µs), timed from inside."""
    t = Table(title="where the time goes (cycle counter read between the compiled stages)")
    t.add_column("offline stage")
    t.add_column("ns/row", justify="right")
    t.add_column("online stage")
    t.add_column("p50 µs (CPU)", justify="right")
    off = [*res["offline_stage_ns_per_row"].items(), ("outside the stages", res["offline_outside_stages_ns_per_row"])]
    on = list(res["online_stage_p50_us"].items())
    for k in range(max(len(off), len(on))):
        a, b = off[k] if k < len(off) else ("", ""), on[k] if k < len(on) else ("", "")
        t.add_row(a[0], f"{a[1]}", b[0], f"{b[1]}")
    return t


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    app.command("features")(features)
    app.command("replay")(replay)
    app.command("ffd-d")(ffd_d)
    bench_app.command("features")(bench_features)

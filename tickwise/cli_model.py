"""Modeling subcommands: walkforward (and its benchmark)."""

import time

import typer
from rich.console import Console
from rich.table import Table

from tickwise.bench_io import JSON_OPTION, peak_rss_gb, write_json
from tickwise.cli_features import FFD_D_OPTION, check_ffd_d

console = Console()


def walkforward(
    bars: str = typer.Option(..., "--bars", help="bars_1m: a Parquet file, a folder, or a lake root."),
    out: str = typer.Option(
        ..., "--out", help="Writes metrics.json, predictions.parquet, backtest.png and diagnostics.png here."
    ),
    horizon: int = typer.Option(5, min=1, help="Label horizon in minutes (vertical barrier)."),
    folds: int = typer.Option(4, min=1, help="Walk-forward test folds (each trains on everything before it)."),
    trials: int = typer.Option(0, min=0, help="Optuna trials on Ray for LightGBM (0 = defaults); counted in the DSR."),
    embargo: int = typer.Option(5, min=0, help="Embargo after each test block, minutes."),
    k: int = typer.Option(10, min=1, help="Names per side per minute in the backtest and precision@K."),
    fee_bps: float = typer.Option(0.5, min=0.0, help="Fee per side in bps, on top of half the quoted spread."),
    max_spread_bps: float = typer.Option(
        None,
        "--max-spread-bps",
        help="Liquidity screen: the backtest enters a name only at minutes it quotes a half spread of at most this "
        "many bps (default: no screen). Compare edge_bps and cost_bps with and without it.",
    ),
    model: str = typer.Option("lgbm", help="'lgbm' or 'logistic'."),
    label_price: str = typer.Option(
        "close",
        help="Price the labels are taken on: 'close' (the last trade, which prints at the bid or the ask: bid-ask "
        "bounce is then part of the target) or 'mid' (the NBBO mid at each bar's end). The backtest and the IC use "
        "the return a taker books, on the mid whenever the bars carry quotes, either way.",
    ),
    reference: str = typer.Option(None, "--reference", help="reference table (default: the lake's, if any)."),
    corporate_actions: str = typer.Option(None, "--corporate-actions", help="corporate actions (default: the lake's)."),
    ffd_d: float = FFD_D_OPTION,
) -> None:
    """Features, triple-barrier labels, purged walk-forward OOS predictions, metrics and a cost-aware backtest."""
    from features.io import BarDays, load_context
    from modeling.labels import PRICES
    from modeling.walkforward import WalkForwardConfig, run

    if model not in ("lgbm", "logistic"):
        raise ValueError(f"--model must be 'lgbm' or 'logistic', got {model!r}")
    if label_price not in PRICES:  # before any work, naming the option (LabelConfig would name its field)
        raise ValueError(f"--label-price must be {' or '.join(map(repr, PRICES))}, got {label_price!r}")
    check_ffd_d(ffd_d)
    if max_spread_bps is not None and not max_spread_bps > 0:
        raise ValueError(f"--max-spread-bps must be > 0 (leave it out for no screen), got {max_spread_bps}")
    days = BarDays(bars)  # a lake is read a session at a time
    ref, acts = load_context(bars, reference, corporate_actions)
    cfg = WalkForwardConfig(
        horizon=horizon,
        folds=folds,
        trials=trials,
        embargo_minutes=embargo,
        k=k,
        fee_bps=fee_bps,
        max_spread_bps=max_spread_bps,
        model=model,
        label_price=label_price,
        ffd_d=ffd_d,
        storage=f"sqlite:///{out}/optuna.db" if trials else None,
    )
    if trials:
        import pathlib

        pathlib.Path(out).mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with console.status("walk-forward") as status:
        res = run(days, ref, acts, out, cfg, progress=lambda msg: status.update(msg))
    m = res.metrics
    t = Table(
        title=f"walk-forward out of sample ({m['folds']} folds, {m['n_test']:,} test events, "
        f"{time.perf_counter() - t0:.0f} s)"
    )
    for c in ("metric", "model", "logistic baseline"):
        t.add_column(c, justify="right")
    for key in ("auc", "logloss", "brier", "ece", "ic", "icir", "f1", "pr_auc", "precision_at_k"):
        t.add_row(key, f"{m[key]:.4f}", f"{res.baseline[key]:.4f}")
    for key in ("sharpe", "max_drawdown", "turnover", "dsr", "overlap_factor", "edge_bps", "cost_bps"):
        t.add_row(key, f"{m[key]:.4f}", "")
    console.print(t)
    console.print("top features: " + ", ".join(f"{n} {g:.2f}" for n, g in res.importance[:6]))
    if m["ic"] != m["ic"] or m["sharpe"] != m["sharpe"]:  # NaN: no minute had the names to rank
        console.print(
            f"[yellow]warning:[/] IC, precision@K and the backtest rank names within each minute: IC needs 5 names "
            f"a minute, precision@K and the backtest 2K = {2 * cfg.k}; the test minutes never had that many, so they "
            "read nan (the classification metrics above do not need a cross-section)"
        )
    if m["quoted_share"] < 0.99:
        console.print(
            f"[yellow]warning:[/] {1 - m['quoted_share']:.0%} of the test events had no quoted spread: the backtest "
            "charged them only the fee, and bars without any quote are traded on their close (bid-ask bounce "
            "included), so its Sharpe flatters (decision 023)"
        )
    console.print(f"wrote {out}/metrics.json, {out}/predictions.parquet, {out}/backtest.png, {out}/diagnostics.png")


def bench_walkforward(
    symbols: int = typer.Option(500, min=13, help="Universe size."),
    days: int = typer.Option(20, min=1, help="Sessions."),
    json_path: str = JSON_OPTION,
) -> None:
    """Wall time and peak memory of a walk-forward on a simulated market (target: 500 x 20 in < 10 minutes)."""
    import tempfile

    import pyarrow as pa

    from marketdata.simulator import MarketSimulator, SimConfig
    from modeling.walkforward import WalkForwardConfig, run

    sim = MarketSimulator(SimConfig(symbols=symbols, days=days, seed=1))
    bars = pa.concat_tables([d.bars for d in sim.days()])
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        res = run(bars, sim.reference(), sim.corporate_actions(), tmp, WalkForwardConfig())
    secs = time.perf_counter() - t0
    rss = peak_rss_gb() * 1024
    fig = {
        "symbols": symbols,
        "days": days,
        "bars": bars.num_rows,
        "seconds": round(secs, 1),
        "peak_rss_mb": round(rss),
        "n_test": res.metrics["n_test"],
        "target_seconds": 600,
    }
    console.print(fig)
    write_json(json_path, fig)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    app.command("walkforward")(walkforward)
    bench_app.command("walkforward")(bench_walkforward)
    bench_app.command("backtest")(bench_backtest)
    bench_app.command("dataset")(bench_dataset)


def bench_backtest(
    symbols: int = typer.Option(5000, min=13, help="Cross-section size."),
    days: int = typer.Option(21, min=1, help="Sessions (21 = one month)."),
    k: int = typer.Option(50, min=1, help="Names per side per minute."),
    json_path: str = JSON_OPTION,
) -> None:
    """The cost-aware backtest on a month of out-of-sample predictions for the whole universe (< 60 s target)."""

    import numpy as np

    from modeling.backtest import backtest

    rng = np.random.default_rng(0)
    n_min = days * 390
    rows = n_min * symbols
    console.print(f"building {rows:,} prediction rows ({symbols:,} symbols x {days} sessions x 390 minutes)")
    base = np.datetime64("2026-03-02T14:31", "ns").astype(np.int64)
    ts = base + np.repeat(np.arange(n_min, dtype=np.int64), symbols) * 60_000_000_000
    sym = np.tile(np.arange(symbols, dtype=np.int32), n_min)  # symbol codes: the backtest never needs the names
    fwd = rng.standard_t(4, rows).astype(np.float64) * 1e-3
    p = 1 / (1 + np.exp(-(fwd * 200 + rng.normal(0, 1, rows))))  # a weakly informative model
    hs = rng.uniform(1e-4, 1e-3, rows)
    halted = rng.random(rows) < 1e-4
    t0 = time.perf_counter()
    res = backtest(ts, sym, p, fwd, hs, halted, k=k, horizon=5)
    took = time.perf_counter() - t0
    out = {
        "rows": rows,
        "symbols": symbols,
        "days": days,
        "seconds": round(took, 2),
        "peak_rss_gb": round(peak_rss_gb(), 2),
        "target_seconds": 60,
        **{m: res.metrics[m] for m in ("sharpe", "sharpe_gross", "max_drawdown", "turnover", "n_minutes")},
    }
    console.print(
        f"backtest of {rows:,} rows in [bold]{took:.1f} s[/bold] (target < 60 s: {'met' if took < 60 else 'NOT met'}); "
        f"peak RSS {out['peak_rss_gb']} GB; {res.metrics['n_minutes']:,} minutes traded"
    )
    write_json(json_path, out)


def bench_dataset(
    symbols: int = typer.Option(5000, min=13, help="Universe size."),
    days: int = typer.Option(20, min=1, help="Sessions."),
    cusum: float = typer.Option(2.0, help="CUSUM event threshold in sigmas (events sample the bars)."),
    json_path: str = JSON_OPTION,
) -> None:
    """Build the float32, event-sampled training set for a universe day by day; print its size and peak memory
    (target: 5,000 symbols x 20 days in 8 GB)."""

    import numpy as np
    from rich.progress import Progress

    from features.batch import fold
    from features.engine import FeatureEngine
    from marketdata.simulator import MarketSimulator, SimConfig
    from modeling.dataset import build_dataset
    from modeling.labels import LabelConfig

    sim = MarketSimulator(SimConfig(symbols=symbols, days=days, seed=1))
    engine = FeatureEngine(sim.reference(), sim.corporate_actions())
    cfg = LabelConfig(cusum=cusum)
    state, parts, bars_seen = None, [], 0
    t0 = time.perf_counter()
    with Progress(console=console) as p:
        task = p.add_task("sessions", total=days)
        for day in sim.days():  # one session at a time: features carry the engine state, labels are per session
            feats, state = fold(engine, day.bars, state)
            d = build_dataset(day.bars, feats, cfg)
            parts.append((d.X, d.y, d.w, d.ts, d.t1))
            bars_seen += day.bars.num_rows
            del feats
            p.advance(task)
    X = np.concatenate([q[0] for q in parts])
    secs = time.perf_counter() - t0
    rss = peak_rss_gb()
    fig = {
        "symbols": symbols,
        "days": days,
        "bars": bars_seen,
        "events": int(len(X)),
        "features": int(X.shape[1]),
        "X_dtype": str(X.dtype),
        "X_gb": round(X.nbytes / 1e9, 2),
        "peak_rss_gb": round(rss, 2),
        "seconds": round(secs, 1),
        "target_gb": 8,
    }
    console.print(fig)
    console.print(f"peak memory {rss:.2f} GB (target 8 GB: {'met' if rss < 8 else 'NOT met'})")
    write_json(json_path, fig)

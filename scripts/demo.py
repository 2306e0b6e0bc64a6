"""`make demo`: the main job end to end on the embedded default.

Simulates two weeks of a market into the landing zone (ticks included; the second week is a crisis regime), then
materializes every asset through Dagster into DAGSTER_HOME (so `make dev` shows the runs, checks and lineage):
data and features for both weeks, the weekly retrain at the end of week one (champion) and its walk-forward on
mid labels beside trade-price ones (the bounce check), the scorer replaying the
last day, the drift report for it, then the sensors judge that report: psi_alert_sensor requests the alert run,
adversarial_drift_sensor requests exactly one retrain, which promotes only through champion_gate. Prints a
summary. Sizes via env: TICKWISE_DEMO_SYMBOLS (default 150), TICKWISE_DEMO_DAYS (default 10, the regime shift
starts at day DAYS/2); the full universe is TICKWISE_DEMO_SYMBOLS=5000.
"""

import datetime as dt
import os
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)
os.environ.setdefault("DAGSTER_HOME", str(ROOT / ".dagster"))


QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def main() -> None:
    warnings.filterwarnings("ignore", message=".*is currently in beta.*")
    import dagster as dg
    from demo_start import fresh_start  # beside this script
    from rich.console import Console

    from marketdata.lake import Lake
    from marketdata.pipeline import simulate_to_lake
    from marketdata.simulator import SimConfig
    from orchestration.definitions import build_definitions
    from orchestration.settings import TickwiseSettings

    console = Console(width=None if sys.stdout.isatty() else 120)
    symbols = int(os.environ.get("TICKWISE_DEMO_SYMBOLS", "150"))
    days = int(os.environ.get("TICKWISE_DEMO_DAYS", "10"))
    shift = days // 2
    s = TickwiseSettings()
    t0 = time.perf_counter()
    fresh_start(console, s, ROOT)
    console.rule(
        f"[bold][{time.perf_counter() - t0:4.0f} s] 1/6 simulating {symbols} symbols x {days} sessions (ticks; crisis regime from day {shift})"
    )
    sim = simulate_to_lake(
        SimConfig(symbols=symbols, days=days, seed=1, start=s.partitions_start, regime_shift_day=shift),
        Lake(s.landing),
        ticks=True,
        on_day=lambda d: console.print(f"  simulated {d}"),
    )
    keys = [d.isoformat() for d in sim.dates]
    first, last, week1 = keys[0], keys[-1], keys[shift - 1]
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text((ROOT / "infra" / "dagster.yaml").read_text())
    console.rule(
        f"[bold][{time.perf_counter() - t0:4.0f} s] 2/6 raw ticks -> bars -> features -> labels through Dagster ({first}..{last})"
    )
    defs = build_definitions(s)
    job = defs.resolve_implicit_global_asset_job_def()
    instance = dg.DagsterInstance.get()
    results = []
    for selection, tags in (
        (["reference", "corporate_actions"], {}),
        (
            ["raw_trades", "raw_quotes", "bars_1m", "features_1m", "triple_barrier_labels"],
            {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        ),
    ):
        r = job.execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey(k) for k in selection], tags=tags, run_config=QUIET
        )
        if not r.success:
            raise SystemExit(f"demo run failed: {selection}")
        results.append(r)
    console.rule(
        f"[bold][{time.perf_counter() - t0:4.0f} s] 3/6 weekly_retrain_job for {week1}: training set, sweep on Ray, gate, champion, evaluation"
    )
    trials = int(os.environ.get("TICKWISE_DEMO_TRIALS", "4"))
    cfg = {
        "ops": {
            k: {"config": {"trials": trials if k == "direction_model" else 0}}
            for k in ("direction_model", "model_evaluation")
        }
    }
    retrain = defs.resolve_job_def("weekly_retrain_job")
    weekly = retrain.execute_in_process(
        instance=instance, partition_key=week1, run_config={**QUIET, **cfg}, raise_on_error=False
    )
    results.append(weekly)
    bounce = _bounce_check(s, keys[:shift])
    console.print("  bounce check: " + bounce)
    console.rule(
        f"[bold][{time.perf_counter() - t0:4.0f} s] 4/6 scorer: replaying {last} in-process through the champion (embedded default)"
    )
    from rich.console import Console as _C

    from serving.app.runtime import run_serve
    from serving.app.settings import ServeSettings

    serve = run_serve(
        ServeSettings(
            mode="inprocess",
            lake=s.lake,
            mlflow_tracking_uri=s.mlflow_tracking_uri,
            redis_url=None,  # the embedded default: the in-process online store, no Redis needed
            compile_trees=False,
            http_port=0,
        ),
        last,
        None,
        _C(quiet=True),
    )
    cons = defs.resolve_job_def("online_offline_consistency_job").execute_in_process(
        instance=instance, partition_key=last, run_config=QUIET
    )
    results.append(cons)
    consistency = cons.output_for_node("online_offline_consistency")
    paper_run = job.execute_in_process(
        instance=instance, asset_selection=[dg.AssetKey("paper_trading_report")], partition_key=last, run_config=QUIET
    )
    results.append(paper_run)
    paper = paper_run.output_for_node("paper_trading_report")
    console.rule(
        f"[bold][{time.perf_counter() - t0:4.0f} s] 5/6 drift_report for {last}, judged by psi_alert_sensor and adversarial_drift_sensor"
    )
    drift_run = defs.resolve_job_def("drift_report_job").execute_in_process(
        instance=instance, partition_key=last, run_config=QUIET
    )
    results.append(drift_run)
    drift = drift_run.output_for_node("drift_report")
    requested = []
    for name in ("psi_alert_sensor", "adversarial_drift_sensor"):
        ctx = dg.build_sensor_context(
            instance=instance, repository_def=defs.get_repository_def(), resources=defs.resources
        )
        tick = defs.resolve_sensor_def(name).evaluate_tick(ctx)
        console.print(
            f"  {name}: " + (f"{len(tick.run_requests)} run request(s)" if tick.run_requests else tick.skip_message)
        )
        requested += [(name, req) for req in tick.run_requests]
    loop = None
    for name, req in requested:
        if name == "psi_alert_sensor":
            a = defs.resolve_job_def("psi_alert_job").execute_in_process(
                instance=instance, run_config={**QUIET, **req.run_config}, tags={"dagster/run_key": req.run_key}
            )
            results.append(a)
        else:
            console.rule(
                f"[bold][{time.perf_counter() - t0:4.0f} s] 6/6 drift-triggered weekly_retrain_job for {req.partition_key} (through champion_gate)"
            )
            loop = retrain.execute_in_process(
                instance=instance,
                partition_key=req.partition_key,
                run_config={**QUIET, **cfg},
                tags={**req.tags, "dagster/run_key": req.run_key},
                raise_on_error=False,
            )
            results.append(loop)
    _summary(console, s, sim, results, weekly, loop, serve, consistency, drift, requested, t0, paper, bounce)


def _gate(run) -> str:  # type: ignore[no-untyped-def]
    if run is None:
        return "not run"
    g = [c for c in run.get_asset_check_evaluations() if c.check_name == "champion_gate"]
    if not g:
        return "did not reach the gate (see the run in the UI)"
    t = g[0].metadata.get("ic_edge_t_vs_baseline")  # is the IC edge above the holdout's noise (|t| < 2: no)
    edge = f" (IC edge over the baseline: t = {t.value:.1f})" if t is not None else ""
    return f"{'passed' if g[0].passed else 'blocked'}: {g[0].metadata['reasons'].value}{edge}"


def _bounce_check(s, days: list[str]) -> str:  # type: ignore[no-untyped-def]
    """Week one's walk-forward twice, outside Dagster: labels on the last trade, then on the NBBO mid, where bid-ask
    bounce cannot score (decision 020); the IC and the backtest take the mid either way (decision 023). The ETFs and
    at most 500 stocks: a sample is enough."""
    from features.io import BarDays
    from marketdata.lake import Lake
    from modeling.walkforward import WalkForwardConfig, run

    lake = Lake(s.lake)
    ref, ca, out = lake.read("reference"), lake.read("corporate_actions"), f"{s.lake}/reports/bounce_check"
    etf, names = (ref.column(c).to_numpy(zero_copy_only=False) for c in ("is_etf", "symbol"))
    keep = sorted(names[etf]) + sorted(names[~etf])[:500]
    bars = BarDays.of(lake.read("bars_1m", [dt.date.fromisoformat(d) for d in days], symbols=keep))
    cfg = {p: WalkForwardConfig(folds=3, label_price=p) for p in ("close", "mid")}
    b = {p: run(bars, ref, ca, f"{out}/{p}", c, progress=lambda _: None).metrics for p, c in cfg.items()}
    return "   ".join(
        f"{name}: AUC {b[p]['auc']:.3f}, IC {b[p]['ic']:.3f}, gross Sharpe {b[p]['sharpe_gross']:.0f}"
        for p, name in (("close", "trade-price labels"), ("mid", "mid labels"))
    )


def _summary(console, s, sim, results, weekly, loop, serve, consistency, drift, requested, t0, paper, bounce) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    from features.engine import FeatureEngine
    from marketdata.lake import Lake

    checks = [c for r in results for c in r.get_asset_check_evaluations()]
    evaluation = weekly.output_for_node("model_evaluation") if weekly.success else {}
    metrics = evaluation.get("metrics", {})
    lake = Lake(s.lake)
    table = Table("item", "value", title="tickwise demo")
    table.columns[1].justify = "right"
    crisis = sim.dates[len(sim.dates) // 2]
    table.add_row("sessions", f"{sim.dates[0]} .. {sim.dates[-1]} (crisis regime from {crisis})")
    table.add_row("trades / quotes", f"{sim.trades:,} / {sim.quotes:,}")
    table.add_row("bars_1m rows", f"{lake.read('bars_1m').num_rows:,}")
    table.add_row("halts / corporate actions", f"{sim.halts} / {sim.corporate_actions}")
    table.add_row("features_1m rows x features", f"{_rows(s.lake, 'features_1m'):,} x {len(FeatureEngine().names)}")
    gates = sum(not c.passed for c in checks if c.check_name == "champion_gate")
    blocked = f" ({gates} champion_gate blocked: a valid outcome)" if gates else ""
    table.add_row("asset checks passed", f"{sum(c.passed for c in checks)}/{len(checks)}{blocked}")
    table.add_row("weekly retrain: champion_gate", _gate(weekly))
    keys = ("auc", "logloss", "ic", "sharpe_gross", "sharpe", "max_drawdown", "turnover", "dsr", "edge_bps", "cost_bps")
    for key in (k for k in keys if k in metrics):
        table.add_row(f"OOS {key} (walk-forward, {s.label_price} labels)", f"{metrics[key]:.4f}")
    table.add_row(
        "scorer replay: cycles / signals",
        f"{serve['scored_cycles']} / {serve['signals']:,} "
        f"({', '.join(f'{k} {v}' for k, v in serve['sources'].items() if v)})",
    )
    if "p50_ms" in serve:
        table.add_row("scorer cycle latency p50 / p99", f"{serve['p50_ms']:.1f} / {serve['p99_ms']:.1f} ms")
    table.add_row(
        "online/offline feature mismatches",
        f"{consistency['total']} in {consistency['rows_compared']:,} rows x {len(consistency['per_feature'])} features",
    )
    pm = paper["metrics"]
    table.add_row(
        "paper trading on served signals (last day)",
        f"Sharpe gross {pm['sharpe_gross']:.1f} / net {pm['sharpe']:.1f}, return net {pm['total_return']:.4f}"
        f"\na unit traded: edge {pm['edge_bps']:.2f} / cost {pm['cost_bps']:.2f} bp",
    )
    table.add_row("drift: worst PSI", f"{drift['psi_worst']} {drift['psi_max']:.2f} (vs {drift['reference_kind']})")
    table.add_row("drift: features over PSI threshold", ", ".join(drift["drifted"]) or "none")
    table.add_row("drift: features going missing", ", ".join(drift.get("going_missing", {})) or "none")
    auc = drift["adversarial_auc"]
    table.add_row("drift: adversarial AUC last vs this week", "n/a" if auc is None else f"{auc:.3f}")
    table.add_row("sensor requests", ", ".join(f"{n} -> {r.run_key}" for n, r in requested) or "none")
    table.add_row("drift-triggered retrain: champion_gate", _gate(loop))
    table.add_row("MLflow", os.environ.get("MLFLOW_TRACKING_URI", s.mlflow_tracking_uri))
    table.add_row("bounce check (week 1 walk-forward)", bounce.replace("   ", "\n"))
    table.add_row(
        "note",
        "tick bars print at bid/ask: trade-price AUC is bid-ask bounce;\n"
        "IC and Sharpe are on the mid (what a taker books): no edge there",
    )
    table.add_row("drift report", drift["html"])
    table.add_row("paper trading report", paper["report"])
    if evaluation.get("report"):
        table.add_row("evaluation report", evaluation["report"])
    table.add_row("Dagster runs", ", ".join(r.run_id[:8] for r in results))
    table.add_row("wall time", f"{time.perf_counter() - t0:.0f} s")
    console.print(table)
    console.print("Next: [bold]make dev[/bold] and open http://127.0.0.1:3000 for the lineage, runs and checks.")
    data_checks = [c for c in checks if c.check_name != "champion_gate"]  # a blocked challenger is a valid outcome
    if not all(c.passed for c in data_checks):
        failed = [f"{c.asset_key.to_user_string()}:{c.check_name}" for c in data_checks if not c.passed]
        raise SystemExit(f"asset checks failed: {failed} (see the Dagster UI)")
    for run in (weekly, loop):
        if run is not None and not run.success and "passed" in _gate(run):
            raise SystemExit(f"retrain run {run.run_id[:8]} failed after its gate passed (see the Dagster UI)")


def _rows(lake: str, dataset: str) -> int:
    import pyarrow.dataset as ds

    return ds.dataset(f"{lake}/{dataset}", format="parquet").count_rows()


if __name__ == "__main__":
    main()

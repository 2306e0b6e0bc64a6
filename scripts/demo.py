"""`make demo`: the main job end to end on the embedded default.

Simulates a market into the landing zone (ticks included), then materializes every asset through Dagster into
DAGSTER_HOME (so `make dev` shows the runs, checks and lineage), and prints a summary. Sizes via env:
TICKWISE_DEMO_SYMBOLS (default 200), TICKWISE_DEMO_DAYS (default 5); the full universe is
TICKWISE_DEMO_SYMBOLS=5000.
"""

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
    from rich.console import Console
    from rich.table import Table

    from marketdata.lake import Lake
    from marketdata.pipeline import simulate_to_lake
    from marketdata.simulator import SimConfig
    from orchestration.definitions import build_definitions
    from orchestration.settings import TickwiseSettings

    console = Console()
    symbols = int(os.environ.get("TICKWISE_DEMO_SYMBOLS", "200"))
    days = int(os.environ.get("TICKWISE_DEMO_DAYS", "5"))
    s = TickwiseSettings()
    t0 = time.perf_counter()
    console.rule(f"[bold]1/2 simulating {symbols} symbols x {days} sessions (ticks) into {s.landing}")
    sim = simulate_to_lake(
        SimConfig(symbols=symbols, days=days, seed=1, start=s.partitions_start),
        Lake(s.landing),
        ticks=True,
        on_day=lambda d: console.print(f"  simulated {d}"),
    )
    first, last = sim.dates[0].isoformat(), sim.dates[-1].isoformat()
    console.rule(
        f"[bold]2/2 materializing the assets through Dagster ({first}..{last}) into {os.environ['DAGSTER_HOME']}"
    )
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text((ROOT / "infra" / "dagster.yaml").read_text())
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
    console.rule(f"[bold]weekly_retrain_job for {last}: training set, sweep on Ray, gate, champion, evaluation")
    retrain = defs.resolve_job_def("weekly_retrain_job")
    trials = int(os.environ.get("TICKWISE_DEMO_TRIALS", "4"))
    cfg = {
        "ops": {
            k: {"config": {"trials": trials if k == "direction_model" else 0}}
            for k in ("direction_model", "model_evaluation")
        }
    }
    r = retrain.execute_in_process(
        instance=instance, partition_key=last, run_config={**QUIET, **cfg}, raise_on_error=False
    )
    results.append(r)
    checks = [c for r in results for c in r.get_asset_check_evaluations()]
    gate = next(c for c in checks if c.check_name == "champion_gate")
    console.rule(f"[bold]scorer: replaying {last} in-process through the champion (embedded default)")
    from rich.console import Console as _C

    from serving.runtime import run_serve
    from serving.settings import ServeSettings

    serve = run_serve(
        ServeSettings(
            mode="inprocess", lake=s.lake, mlflow_tracking_uri=s.mlflow_tracking_uri, compile_trees=False, http_port=0
        ),
        last,
        None,
        _C(quiet=True),
    )
    cons = defs.resolve_job_def("online_offline_consistency_job").execute_in_process(
        instance=instance, partition_key=last, run_config=QUIET
    )
    consistency = cons.output_for_node("online_offline_consistency")
    checks += cons.get_asset_check_evaluations()
    evaluation = r.output_for_node("model_evaluation")["metrics"] if r.success else {}
    lake = Lake(s.lake)
    table = Table(title="tickwise demo — what exists so far")
    table.add_column("item")
    table.add_column("value", justify="right")
    table.add_row("sessions", f"{first} .. {last}")
    table.add_row("trades / quotes", f"{sim.trades:,} / {sim.quotes:,}")
    table.add_row("bars_1m rows", f"{lake.read('bars_1m').num_rows:,}")
    table.add_row("halts / corporate actions", f"{sim.halts} / {sim.corporate_actions}")
    table.add_row("features_1m rows x features", f"{_rows(s.lake, 'features_1m'):,} x {_n_features()}")
    table.add_row("asset checks passed", f"{sum(c.passed for c in checks)}/{len(checks)}")
    table.add_row("champion_gate", ("passed: " if gate.passed else "blocked: ") + str(gate.metadata["reasons"].value))
    for key in ("auc", "logloss", "ic", "sharpe", "max_drawdown", "turnover", "dsr"):
        if key in evaluation:
            table.add_row(f"OOS {key} (walk-forward)", f"{evaluation[key]:.4f}")
    table.add_row(
        "scorer replay: cycles / signals",
        f"{serve['scored_cycles']} / {serve['signals']:,} "
        f"({', '.join(f'{k} {v}' for k, v in serve['sources'].items() if v)})",
    )
    table.add_row(
        "online/offline feature mismatches",
        f"{consistency['total']} in {consistency['rows_compared']:,} rows x {len(consistency['per_feature'])} features",
    )
    if "p50_ms" in serve:
        table.add_row("scorer cycle latency p50 / p99", f"{serve['p50_ms']:.1f} / {serve['p99_ms']:.1f} ms")
    table.add_row("MLflow", os.environ.get("MLFLOW_TRACKING_URI", s.mlflow_tracking_uri))
    table.add_row(
        "note",
        "tick bars print at bid/ask: gross skill here is bid-ask bounce; the\n"
        "net Sharpe (half spread + fee per side) shows it cannot be traded",
    )
    table.add_row("lake", str(Path(s.lake).resolve()))
    table.add_row("Dagster runs", ", ".join(r.run_id[:8] for r in results))
    table.add_row("wall time", f"{time.perf_counter() - t0:.0f} s")
    console.print(table)
    console.print("Next: [bold]make dev[/bold] and open http://127.0.0.1:3000 for the lineage, runs and checks.")
    data_checks = [c for c in checks if c.check_name != "champion_gate"]  # a blocked challenger is a valid outcome
    if not all(c.passed for c in data_checks) or not r.success and gate.passed:
        failed = [f"{c.asset_key.to_user_string()}:{c.check_name}" for c in data_checks if not c.passed]
        raise SystemExit(f"asset checks failed: {failed} (see the Dagster UI)")


def _rows(lake: str, dataset: str) -> int:
    import pyarrow.dataset as ds

    return ds.dataset(f"{lake}/{dataset}", format="parquet").count_rows()


def _n_features() -> int:
    from features.engine import FeatureEngine

    return len(FeatureEngine().names)


if __name__ == "__main__":
    main()

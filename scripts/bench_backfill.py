"""Peak memory of a single-run Dagster backfill over every day of a lake.

Default: copies the lake (so the source is never written), materializes ``reference`` and ``corporate_actions``,
then ``features_1m`` over all its ``bars_1m`` days in ONE run (the UI's "single run" backfill). With ``--ticks`` the
lake is the landing zone instead: ``raw_trades``, ``raw_quotes`` and ``bars_1m`` are materialized from its trades'
days into an empty WORK lake in one run. Prints the days, the seconds, whether the run and its checks passed, and
the process's peak RSS. Decision 019 has the figures.

    .venv/bin/tickwise simulate --symbols 5000 --days 5 --seed 1 --out /tmp/lake5
    .venv/bin/python scripts/bench_backfill.py /tmp/lake5 /tmp/lake5-backfill
    .venv/bin/tickwise simulate --symbols 500 --days 3 --ticks --out /tmp/ticks3
    .venv/bin/python scripts/bench_backfill.py --ticks /tmp/ticks3 /tmp/ticks3-backfill
"""

import argparse
import datetime as dt
import resource
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("lake", help="a lake with bars_1m (and optionally reference, corporate_actions)")
    ap.add_argument("work", help="the lake the run writes (replaced if present)")
    ap.add_argument("--ticks", action="store_true", help="raw_trades, raw_quotes, bars_1m from the lake's ticks")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", message=".*is currently in beta.*")
    import dagster as dg

    from marketdata.lake import Lake
    from orchestration.definitions import build_definitions
    from orchestration.settings import TickwiseSettings

    source = "trades" if args.ticks else "bars_1m"
    days = Lake(args.lake).dates(source)
    if not days:
        sys.exit(f"error: {args.lake}: no {source} day partitions")
    shutil.rmtree(args.work, ignore_errors=True)
    if not args.ticks:
        shutil.copytree(args.lake, args.work)
    selected = ["raw_trades", "raw_quotes", "bars_1m"] if args.ticks else ["features_1m"]
    s = TickwiseSettings(
        lake=args.work, landing=args.lake, partitions_start=days[0], partitions_end=days[-1] + dt.timedelta(days=1)
    )
    job = build_definitions(s).resolve_implicit_global_asset_job_def()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as home, dg.DagsterInstance.ephemeral(tempdir=home) as instance:
        keys = [dg.AssetKey("reference"), dg.AssetKey("corporate_actions")]
        job.execute_in_process(instance=instance, asset_selection=keys, run_config=quiet)
        r = job.execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey(k) for k in selected],
            run_config=quiet,
            tags={
                "dagster/asset_partition_range_start": str(days[0]),
                "dagster/asset_partition_range_end": str(days[-1]),
            },
        )
        checks = {c.check_name: c.passed for c in r.get_asset_check_evaluations()}
    peak, what = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, ", ".join(selected)
    print(f"{what} backfill, one run: {len(days)} days ({days[0]}..{days[-1]}), success {r.success}, checks {checks}")
    print(f"{time.perf_counter() - t0:.1f} s, peak RSS {peak:,.0f} MB")


if __name__ == "__main__":
    main()

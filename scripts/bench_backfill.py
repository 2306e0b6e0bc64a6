"""Peak memory of a single-run Dagster backfill of ``features_1m`` over every ``bars_1m`` day of a lake.

Copies the lake (so the source is never written), materializes ``reference`` and ``corporate_actions``, then
``features_1m`` over the whole range in ONE run (the UI's "single run" backfill), and prints the days, the seconds,
whether the run and its checks passed, and the process's peak RSS. Decision 019 has the figures.

    .venv/bin/tickwise simulate --symbols 5000 --days 5 --seed 1 --out /tmp/lake5
    .venv/bin/python scripts/bench_backfill.py /tmp/lake5 /tmp/lake5-backfill
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
    ap.add_argument("work", help="where the copy is made and features_1m written (replaced if present)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", message=".*is currently in beta.*")
    import dagster as dg

    from marketdata.lake import Lake
    from orchestration.definitions import build_definitions
    from orchestration.settings import TickwiseSettings

    days = Lake(args.lake).dates("bars_1m")
    if not days:
        sys.exit(f"error: {args.lake}: no bars_1m day partitions")
    shutil.rmtree(args.work, ignore_errors=True)
    shutil.copytree(args.lake, args.work)
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
            asset_selection=[dg.AssetKey("features_1m")],
            run_config=quiet,
            tags={
                "dagster/asset_partition_range_start": str(days[0]),
                "dagster/asset_partition_range_end": str(days[-1]),
            },
        )
        checks = {c.check_name: c.passed for c in r.get_asset_check_evaluations()}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"features_1m backfill, one run: {len(days)} days ({days[0]}..{days[-1]}), success {r.success}, checks {checks}"
    )
    print(f"{time.perf_counter() - t0:.1f} s, peak RSS {peak:,.0f} MB")


if __name__ == "__main__":
    main()

"""features_1m: the feature engine folded over each day's bars, carrying state from the previous partition."""

import datetime as dt

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from features import checks
from features.batch import fold
from features.engine import FFD_D, FeatureEngine
from features.state_io import dumps, loads
from marketdata.lake import Lake
from orchestration.io_manager import written
from orchestration.resources import LakeResource

CHECKS = {  # each check and what it asserts (shown as its description in Dagster)
    "no_nan_after_warmup": "Once its window has filled, no feature is missing (bar those whose inputs may be absent).",
    "values_within_bounds": "Every feature stays within the bounds its definition declares.",
    "feature_set_version_recorded": "Each day's file records the feature-set version that computed it.",
}


def _state_path(lake: LakeResource, key: str) -> str:
    return f"{lake.lake().path('engine_state', dt.date.fromisoformat(key))}/state.npz"


def build_feature_assets(partitions: dg.TimeWindowPartitionsDefinition, ffd_d: float = FFD_D) -> list:
    @dg.asset(
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        metadata={"dataset": "features_1m"},
        group_name="features",
        kinds={"parquet"},
        deps=[
            "bars_1m",
            dg.AssetDep("features_1m", partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)),
        ],
        check_specs=[dg.AssetCheckSpec(n, asset="features_1m", description=d) for n, d in CHECKS.items()],
    )
    def features_1m(
        context: dg.AssetExecutionContext, lake: LakeResource, reference: pa.Table, corporate_actions: pa.Table
    ):  # type: ignore[no-untyped-def]
        """Every feature, one engine: the day's bars folded through the same step the live scorer runs.

        A run over a range goes a day at a time: read the day's bars, fold them from the state the day before
        left, write the day's partition and its state, keep only the checks' sums. A backfill of any length runs
        in one day's memory."""
        lk = lake.lake()  # an optional user-supplied VIX series (dataset `vix`) replaces the SPY-vol proxy
        vix = lk.read("vix") if lk.exists("vix") else None
        engine = FeatureEngine(reference, corporate_actions, vix=vix, ffd_d=ffd_d)
        keys = sorted(context.partition_keys)
        state = _previous_state(context, lake, partitions, keys[0])
        tally, rows = checks.Tally(engine), {}
        versions: list[checks.Outcome] = []
        for key in keys:
            day, counts = dt.date.fromisoformat(key), list[np.ndarray]()
            feats, state = fold(engine, lk.read("bars_1m", [day]), state, counts=counts)
            lk.write_partition("features_1m", day, feats.replace_schema_metadata(engine.metadata(state)))
            path = _state_path(lake, key)
            lk.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
            with lk.fs.open_output_stream(path) as f:
                f.write(dumps(state))
            tally.add(feats, np.concatenate(counts) if counts else np.empty(0, np.int64))
            versions.append(checks.version_recorded(_written_metadata(lk, day), engine))
            rows[key] = feats.num_rows
            context.log.info(f"features_1m {key}: {feats.num_rows:,} rows written, state saved")
        info = {"features": len(engine.names), "feature_set_version": engine.version}
        yield dg.Output(written(context, rows), metadata=info)
        recorded = next((v for v in versions if not v.passed), versions[-1])
        for o in (tally.nan_after_warmup(), tally.within_bounds(), recorded):
            yield dg.AssetCheckResult(check_name=o.name, asset_key="features_1m", passed=o.passed, metadata=o.metadata)

    return [features_1m]


def _written_metadata(lk: Lake, day: dt.date) -> dict[str, str]:
    """The metadata of the ``features_1m`` file as it landed (what a reader of the lake will see)."""
    md = pq.read_schema(f"{lk.path('features_1m', day)}/part-0.parquet", filesystem=lk.fs).metadata or {}
    return {k.decode(): v.decode() for k, v in md.items()}


def _previous_state(
    context: dg.AssetExecutionContext, lake: LakeResource, partitions: dg.TimeWindowPartitionsDefinition, first_key: str
):  # type: ignore[no-untyped-def]
    keys = partitions.get_partition_keys()
    i = keys.index(first_key)
    if i == 0:
        return None
    prev = keys[i - 1]
    path = _state_path(lake, prev)
    fs = lake.lake().fs
    from pyarrow import fs as pafs

    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        raise dg.Failure(
            f"features_1m {first_key} needs the engine state of {prev}: materialize features_1m for {prev} "
            "first (state carries across days, so a backfill equals one continuous run)"
        )
    with fs.open_input_stream(path) as f:
        context.log.info(f"continuing from the engine state after {prev}")
        return loads(f.read())


def build_consistency_check(  # type: ignore[no-untyped-def]
    partitions: dg.TimeWindowPartitionsDefinition, ffd_d: float = FFD_D
):
    @dg.asset(
        partitions_def=partitions,
        group_name="serving",
        io_manager_key="json_io_manager",
        deps=["features_1m"],
        kinds={"redis"},
        check_specs=[
            dg.AssetCheckSpec(
                "online_offline_consistency",
                asset="online_offline_consistency",
                description="The features the scorer served (its shadow log) equal features_1m, row for row.",
            )
        ],
    )
    def online_offline_consistency(context: dg.AssetExecutionContext, lake: LakeResource):  # type: ignore[no-untyped-def]
        """Served feature rows (the scorer's shadow log) vs the offline features_1m, per feature (expect zero)."""
        import datetime as _dt

        from features.consistency import mismatches
        from features.engine import FeatureEngine

        lk = lake.lake()
        days = [_dt.date.fromisoformat(k) for k in context.partition_keys]
        logged = set(lk.dates("features_served")) if lk.exists("features_served") else set()
        missing = [str(d) for d in days if d not in logged]
        if missing:
            raise dg.Failure(f"no served features logged for {missing}: run the scorer on that day first")
        served, offline = lk.read("features_served", days), lk.read("features_1m", days)
        ref = lk.read("reference") if lk.exists("reference") else None
        m = mismatches(served, offline, FeatureEngine(ref, ffd_d=ffd_d).names)
        bad = {k: v for k, v in m["per_feature"].items() if v}
        md = {
            "rows_compared": m["rows_compared"],
            "mismatches": m["total"],
            "served_only": m["served_only"],
            "offline_only": m["offline_only"],
            "features_with_mismatches": str(bad) if bad else "none",
            "threshold": 0,
        }
        yield dg.Output(m, metadata=md)
        yield dg.AssetCheckResult(
            check_name="online_offline_consistency", passed=m["total"] == 0 and m["served_only"] == 0, metadata=md
        )

    return online_offline_consistency

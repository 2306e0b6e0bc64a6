"""features_1m: the feature engine folded over each day's bars, carrying state from the previous partition."""

import datetime as dt

import dagster as dg
import numpy as np
import pyarrow as pa

from features import checks
from features.batch import fold
from features.engine import FeatureEngine
from features.state_io import dumps, loads
from orchestration.resources import LakeResource

CHECKS = ["no_nan_after_warmup", "values_within_bounds", "feature_set_version_recorded"]


def _state_path(lake: LakeResource, key: str) -> str:
    return f"{lake.lake().path('engine_state', dt.date.fromisoformat(key))}/state.npz"


def build_feature_assets(partitions: dg.TimeWindowPartitionsDefinition) -> list:
    @dg.asset(
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        metadata={"dataset": "features_1m"},
        group_name="features",
        kinds={"parquet"},
        deps=[
            dg.AssetDep("features_1m", partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1))
        ],
        check_specs=[dg.AssetCheckSpec(n, asset="features_1m") for n in CHECKS],
    )
    def features_1m(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        bars_1m: dict[str, pa.Table],
        reference: pa.Table,
        corporate_actions: pa.Table,
    ):  # type: ignore[no-untyped-def]
        """Every feature, one engine: the day's bars folded through the same step the live scorer runs."""
        lk = lake.lake()  # an optional user-supplied VIX series (dataset `vix`) replaces the SPY-vol proxy
        engine = FeatureEngine(reference, corporate_actions, vix=lk.read("vix") if lk.exists("vix") else None)
        keys = sorted(bars_1m)
        state = _previous_state(context, lake, partitions, keys[0])
        out: dict[str, pa.Table] = {}
        counts: list[np.ndarray] = []
        fs = lake.lake().fs
        for key in keys:
            feats, state = fold(engine, bars_1m[key], state, counts=counts)
            out[key] = feats.replace_schema_metadata(engine.metadata(state))
            path = _state_path(lake, key)
            fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
            with fs.open_output_stream(path) as f:
                f.write(dumps(state))
        yield dg.Output(
            out,
            metadata={
                "rows": sum(t.num_rows for t in out.values()),
                "features": len(engine.names),
                "feature_set_version": engine.version,
            },
        )
        yield from _checks(out, engine, np.concatenate(counts) if counts else np.empty(0, np.int64))

    return [features_1m]


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


def _checks(out: dict[str, pa.Table], engine: FeatureEngine, counts: np.ndarray):  # type: ignore[no-untyped-def]
    table = pa.concat_tables(list(out.values()))
    md = {k.decode(): v.decode() for k, v in (next(iter(out.values())).schema.metadata or {}).items()}
    for o in (
        checks.nan_after_warmup(table, engine, counts),
        checks.within_bounds(table, engine),
        checks.version_recorded(md, engine),
    ):
        yield dg.AssetCheckResult(check_name=o.name, asset_key="features_1m", passed=o.passed, metadata=o.metadata)


def build_consistency_check(partitions: dg.TimeWindowPartitionsDefinition):  # type: ignore[no-untyped-def]
    @dg.asset(
        partitions_def=partitions,
        group_name="serving",
        io_manager_key="json_io_manager",
        deps=["features_1m"],
        check_specs=[dg.AssetCheckSpec("online_offline_consistency", asset="online_offline_consistency")],
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
        m = mismatches(served, offline, FeatureEngine(ref).names)
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

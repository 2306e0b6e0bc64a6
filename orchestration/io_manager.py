"""IO manager that stores assets as contract datasets in the lake (local or S3).

Partitioned assets return ``{partition_key: table}`` (one entry per partition of the run, so a single-run
backfill over a range works); unpartitioned assets return a table. An asset that writes its partitions itself as
it goes, to hold one day at a time, returns :func:`written`'s :class:`Written`. The dataset name is the asset's
``dataset`` metadata, else the asset name. Each partition's materialization reports its own rows
(``dagster/row_count``), never the run's total.
"""

import datetime as dt
from dataclasses import dataclass

import dagster as dg
import pyarrow as pa

from marketdata.lake import Lake


def _dataset(context: dg.OutputContext | dg.InputContext) -> str:
    md = context.definition_metadata or {}
    return str(md.get("dataset") or context.asset_key.path[-1])


@dataclass(frozen=True)
class Written:
    """Partitions an asset has already written to the lake (key -> rows); the IO manager only records them."""

    rows: dict[str, int]


def written(context: dg.AssetExecutionContext, rows: dict[str, int], **per_day: dict[str, object]) -> Written:
    """What an asset that wrote its own partitions returns: each partition's materialization gets its own
    ``dagster/row_count`` and its entry of each ``per_day`` mapping (a single-run backfill over a range records one
    materialization per partition, and the run-level metadata is the same on all of them)."""
    for key, n in rows.items():
        md = {"dagster/row_count": n} | {k: v[key] for k, v in per_day.items() if key in v}
        context.add_asset_metadata(md, partition_key=key)
    return Written(rows)


class LakeIOManager(dg.ConfigurableIOManager):
    """Reads and writes contract datasets under ``root``."""

    root: str

    def handle_output(self, context: dg.OutputContext, obj: pa.Table | dict[str, pa.Table] | Written) -> None:
        lake = Lake(self.root)
        ds = _dataset(context)
        md: dict[str, object] = {"path": lake.path(ds)}
        if isinstance(obj, dict):
            for key, table in obj.items():
                write_day(lake, ds, key, table)
            if len(obj) == 1:  # several: their materializations would all carry one count (see written())
                md["dagster/row_count"] = next(iter(obj.values())).num_rows
        elif not isinstance(obj, Written):  # Written: the asset recorded each partition's rows
            lake.write(ds, obj, source=f"asset {context.asset_key.to_user_string()}")
            md["dagster/row_count"] = obj.num_rows
        context.add_output_metadata(md)

    def load_input(self, context: dg.InputContext) -> pa.Table | dict[str, pa.Table]:
        lake = Lake(self.root)
        ds = _dataset(context.upstream_output) if context.upstream_output else _dataset(context)
        if context.has_asset_partitions:
            return {k: lake.read(ds, [dt.date.fromisoformat(k)]) for k in context.asset_partition_keys}
        return lake.read(ds)


def write_day(lake: Lake, dataset: str, key: str, table: pa.Table, metadata: dict[str, str] | None = None) -> int:
    """One day partition written as :meth:`LakeIOManager.handle_output` writes it (conformed to the dataset's
    contract when it has one, with ``metadata`` in the file); an asset that writes as it goes calls this and returns
    :class:`Written`."""
    lake.write_partition(dataset, dt.date.fromisoformat(key), _conformed(table, dataset, key), metadata)
    return table.num_rows


def _conformed(table: pa.Table, dataset: str, key: str) -> pa.Table:
    from marketdata.schemas import SCHEMAS
    from marketdata.validate import conform

    return conform(table, dataset, f"partition {key}") if dataset in SCHEMAS else table

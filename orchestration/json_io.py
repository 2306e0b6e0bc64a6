"""A small IO manager for JSON-able asset values (model versions, evaluation summaries)."""

import json

import dagster as dg
from pyarrow import fs as pafs

from marketdata.lake import Lake


class JsonIOManager(dg.ConfigurableIOManager):
    root: str

    def _path(self, context: dg.OutputContext | dg.InputContext) -> str:
        lake = Lake(self.root)
        key = context.asset_key.path[-1]
        part = context.asset_partition_key if context.has_asset_partitions else "all"
        return f"{lake.base}/_assets/{key}/{part}.json"

    def handle_output(self, context: dg.OutputContext, obj: dict) -> None:
        lake = Lake(self.root)
        path = self._path(context)
        lake.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        with lake.fs.open_output_stream(path) as f:
            f.write(json.dumps(obj, default=str).encode())

    def load_input(self, context: dg.InputContext) -> dict:
        lake = Lake(self.root)
        path = self._path(context)  # an input context names the upstream asset and its partition itself
        if lake.fs.get_file_info(path).type == pafs.FileType.NotFound:
            raise FileNotFoundError(f"{path}: upstream value not materialized")
        with lake.fs.open_input_stream(path) as f:
            return json.loads(f.read().decode())

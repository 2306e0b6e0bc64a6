"""The one Definitions object (workspace.yaml loads this module)."""

import dagster as dg

from assets.features import build_consistency_check, build_feature_assets
from assets.market_data import build_market_data_assets
from assets.modeling import build_model_assets
from jobs.retrain import build_retrain_job, build_retrain_schedule
from orchestration.io_manager import LakeIOManager
from orchestration.json_io import JsonIOManager
from orchestration.partitions import trading_day_partitions
from orchestration.resources import LakeResource, MarketSourceResource, MLflowResource
from orchestration.settings import TickwiseSettings


def build_definitions(settings: TickwiseSettings | None = None) -> dg.Definitions:
    """Assemble assets, checks, jobs and resources for the deployment the settings name."""
    s = settings or TickwiseSettings()
    partitions = trading_day_partitions(s.partitions_start, s.partitions_end)
    assets = (
        build_market_data_assets(partitions)
        + build_feature_assets(partitions)
        + build_model_assets(partitions, s.window_days)
        + [build_consistency_check(partitions)]
    )
    retrain = build_retrain_job(partitions)
    consistency = dg.define_asset_job(
        "online_offline_consistency_job",
        partitions_def=partitions,
        selection=dg.AssetSelection.assets("online_offline_consistency"),
        description="Compare the scorer's served features with features_1m for a day.",
    )
    market_job = dg.define_asset_job(
        "market_data_job", selection=dg.AssetSelection.groups("market_data"), partitions_def=partitions
    )
    return dg.Definitions(
        assets=assets,
        jobs=[market_job, retrain, consistency],
        schedules=[build_retrain_schedule(retrain, partitions, s.retrain_cron)],
        resources={
            "io_manager": LakeIOManager(root=s.lake),
            "lake": LakeResource(root=s.lake),
            "market_source": MarketSourceResource(landing=s.landing),
            "json_io_manager": JsonIOManager(root=s.lake),
            "mlflow": MLflowResource(tracking_uri=s.mlflow_tracking_uri),
        },
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()

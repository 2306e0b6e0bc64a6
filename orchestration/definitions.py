"""The one Definitions object (workspace.yaml loads this module)."""

import os

import dagster as dg

from assets.features import build_consistency_check, build_feature_assets
from assets.market_data import build_market_data_assets
from assets.modeling import build_model_assets
from assets.monitoring import build_monitoring_assets
from assets.serving import build_serving_assets
from jobs.alerts import psi_alert_job
from jobs.retrain import build_drift_schedule, build_retrain_job, build_retrain_schedule
from orchestration.io_manager import LakeIOManager
from orchestration.json_io import JsonIOManager
from orchestration.partitions import trading_day_partitions
from orchestration.resources import (
    AlertSinkResource,
    KafkaResource,
    LakeResource,
    MarketSourceResource,
    MLflowResource,
    RedisResource,
)
from orchestration.settings import TickwiseSettings
from sensors.drift import build_adversarial_drift_sensor, build_psi_alert_sensor, run_failure_alert_sensor

OWNERS = {  # who answers for each group's assets (shown on every asset page)
    "market_data": "team:data-platform",
    "features": "team:data-platform",
    "modeling": "team:quant-research",
    "monitoring": "team:quant-research",
    "serving": "team:serving",
}


def _owned(spec: dg.AssetSpec) -> dg.AssetSpec:
    return spec.replace_attributes(owners=[OWNERS[spec.group_name or ""]]) if not spec.owners else spec


def build_definitions(settings: TickwiseSettings | None = None) -> dg.Definitions:
    """Assemble assets, checks, jobs and resources for the deployment the settings name."""
    s = settings or TickwiseSettings()
    partitions = trading_day_partitions(s.partitions_start, s.partitions_end)
    assets = (
        build_market_data_assets(partitions)
        + build_feature_assets(partitions, s.ffd_d)
        + build_model_assets(partitions, s.window_days, s.label_price)
        + [build_consistency_check(partitions, s.ffd_d)]
        + build_monitoring_assets(
            partitions, s.window_days, s.psi_threshold, s.adversarial_auc_threshold, s.missing_rise, s.ffd_d
        )
        + build_serving_assets(partitions)
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
    drift_job = dg.define_asset_job(
        "drift_report_job",
        partitions_def=partitions,
        selection=dg.AssetSelection.assets("drift_report"),
        description="Daily drift report (PSI, adversarial validation, served signals).",
    )
    return dg.Definitions(
        assets=dg.map_asset_specs(_owned, assets),
        jobs=[market_job, retrain, consistency, drift_job, psi_alert_job],
        schedules=[
            build_retrain_schedule(retrain, partitions, s.retrain_cron),
            build_drift_schedule(drift_job, partitions, s.drift_cron),
        ],
        sensors=[
            build_psi_alert_sensor(psi_alert_job, s.psi_threshold, s.psi_ignore),
            build_adversarial_drift_sensor(retrain, s.adversarial_auc_threshold),
            run_failure_alert_sensor,
        ],
        resources=_resources(s),
    )


def _resources(s: TickwiseSettings) -> dict:
    """Local values from the settings; in ``prod`` every location comes from the environment at run time
    (``dg.EnvVar``), so secrets and endpoints never land in the Dagster UI or in code."""
    if s.deployment == "prod":
        lake, landing, uri = dg.EnvVar("TICKWISE_LAKE"), dg.EnvVar("TICKWISE_LANDING"), dg.EnvVar("MLFLOW_TRACKING_URI")
        return {
            "io_manager": LakeIOManager(root=lake),
            "lake": LakeResource(root=lake),
            "market_source": MarketSourceResource(landing=landing),
            "json_io_manager": JsonIOManager(root=lake),
            "mlflow": MLflowResource(tracking_uri=uri, ui_url=s.mlflow_ui_url),
            "redis": RedisResource(url=dg.EnvVar("TICKWISE_REDIS_URL")),
            "kafka": KafkaResource(bootstrap_servers=dg.EnvVar("TICKWISE_KAFKA_BOOTSTRAP")),
            # the webhook is optional: the log always gets the alert
            "alert_sink": AlertSinkResource(
                webhook_url=dg.EnvVar("TICKWISE_ALERT_WEBHOOK_URL")
                if os.environ.get("TICKWISE_ALERT_WEBHOOK_URL")
                else None
            ),
        }
    return {
        "io_manager": LakeIOManager(root=s.lake),
        "lake": LakeResource(root=s.lake),
        "market_source": MarketSourceResource(landing=s.landing),
        "json_io_manager": JsonIOManager(root=s.lake),
        "mlflow": MLflowResource(tracking_uri=s.mlflow_tracking_uri, ui_url=s.mlflow_ui_url),
        "redis": RedisResource(url=s.redis_url),
        "kafka": KafkaResource(bootstrap_servers=s.kafka_bootstrap),
        "alert_sink": AlertSinkResource(webhook_url=s.alert_webhook_url),
    }


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()

"""Settings for the Dagster shell, parsed once inside the definitions function (never at import)."""

import datetime as dt
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class TickwiseSettings(BaseSettings):
    """Environment ``TICKWISE_*``; a bad value fails at load naming the field."""

    model_config = SettingsConfigDict(env_prefix="TICKWISE_", extra="ignore")

    lake: str = Field("data/lake", description="Lake root: a local path or s3://bucket/prefix.")
    landing: str = Field("data/landing", description="Where raw feeds land (simulator, vendor files, Kafka sink).")
    partitions_start: dt.date = Field(dt.date(2026, 3, 2), description="First daily partition.")
    partitions_end: dt.date | None = Field(None, description="Day after the last partition (default: today).")
    deployment: str = Field("local", description="'local' (embedded default) or 'prod'.")
    mlflow_tracking_uri: str = Field("sqlite:///mlflow.db", description="MLflow tracking + registry URI.")
    mlflow_ui_url: str = Field(
        "http://127.0.0.1:5000", description="Where `mlflow ui` serves that store (asset metadata links to runs)."
    )
    dagster_ui_url: str = Field(
        "http://127.0.0.1:3000", description="Where the Dagster UI serves (report pages link to their runs)."
    )
    window_days: int = Field(5, ge=1, description="Sessions in the rolling training window.")
    retrain_cron: str = Field("0 6 * * 6", description="Weekly retrain schedule (cron, UTC).")
    drift_cron: str = Field("30 22 * * 1-5", description="Daily drift report, after the close (cron, UTC).")
    redis_url: str = Field("redis://127.0.0.1:6390/0", description="Online store Redis.")
    kafka_bootstrap: str = Field("127.0.0.1:19092", description="Kafka bootstrap servers.")
    alert_webhook_url: str | None = Field(None, description="Slack-compatible webhook for alerts (log only if unset).")
    label_price: Literal["close", "mid"] = Field(
        "close",
        description="Price the labels are taken on: 'close' (the last trade, which prints at the bid or the ask: "
        "bid-ask bounce is part of the target) or 'mid' (the NBBO mid at each bar's end). Backtests trade the mid "
        "whenever the bars carry quotes, whatever this is.",
    )
    ffd_d: float = Field(
        0.4,
        gt=0,
        le=2,
        multiple_of=0.01,
        description="FFD's differencing order d (the feature ffd_<100 d>; `tickwise ffd-d` picks the smallest that "
        "makes training prices stationary). features_1m, the drift report and the consistency check use it, and so "
        "must `tickwise serve`: a model or an engine state of another d is refused, not used.",
    )
    psi_threshold: float = Field(0.2, gt=0, description="PSI above which psi_alert_sensor alerts.")
    psi_ignore: list[str] = Field(
        ["mkt_vol"], description="Features shown in the PSI table but never alerted on (market-wide context)."
    )
    missing_rise: float = Field(
        0.10,
        gt=0,
        le=1,
        description="Rise in a feature's share of missing values (reference -> current, absolute) at which "
        "psi_alert_sensor alerts: PSI bins only the values present, so values gone missing would not show in it.",
    )
    adversarial_auc_threshold: float = Field(
        0.60, gt=0.5, lt=1.0, description="Adversarial AUC above which adversarial_drift_sensor retrains."
    )

    @field_validator("deployment")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in ("local", "prod"):
            raise ValueError("must be 'local' or 'prod'")
        return v

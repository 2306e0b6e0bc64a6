"""Settings of the live scorer, parsed once at start-up (a bad value fails naming the field)."""

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServeSettings(BaseSettings):
    """``tickwise serve`` settings: flags override ``TICKWISE_*`` env; validated at start-up."""

    model_config = SettingsConfigDict(env_prefix="TICKWISE_", extra="ignore")
    mode: str = Field("inprocess", pattern="^(inprocess|kafka)$")
    # what the Kafka mode reads: the tick topics (the ticks -> bars stage in this process) or the Flink job's bars
    # topic (decision 036: the stage on Flink); `bars` implies the Kafka mode
    source: str = Field("ticks", pattern="^(ticks|bars)$")
    bars_topic: str = Field("bars.1m", min_length=1)
    lake: str = "data/lake"
    kafka_bootstrap: str = "127.0.0.1:19092"
    redis_url: str | None = None
    mlflow_tracking_uri: str = "sqlite:///mlflow.db"
    group: str = Field("tickwise-scorer", min_length=1)
    http_host: str = "127.0.0.1"
    http_port: int = Field(8765, ge=0, le=65535)
    lateness_ms: int = Field(2000, ge=0)
    compile_trees: bool = True
    reload_every_s: float = Field(30.0, gt=0)
    # the Dagster alerts' webhook (TICKWISE_ALERT_WEBHOOK_URL): breaker trips, model failures, fallback
    alert_webhook_url: str | None = None
    alert_every_s: float = Field(300.0, ge=0)  # an alert of one kind at most this often (the rest are counted)
    # checkpoints (serving.io.checkpoint): a full one every this many, deltas between; an alert while the last good
    # one is older than checkpoint_alert_s seconds
    checkpoint_base_every: int = Field(30, ge=1)
    checkpoint_alert_s: float = Field(180.0, gt=0)
    # threads of the feature step: 1, because live the second core is the broker's, the feed's and the clients'
    # (a helper thread descheduled mid-minute made the step 3-30 ms against ~1 ms on one, decision 034)
    step_threads: int = Field(1, ge=1, le=2)
    # FFD's d (TICKWISE_FFD_D): the same as the batch path's, or the champion and the lake's state are refused
    ffd_d: float = Field(0.4, gt=0, le=2, multiple_of=0.01)
    # the shadow log goes to the lake every this many scored minutes (0: only when the run ends), so a scorer that
    # dies mid-session loses at most that much of it
    shadow_flush_minutes: int = Field(30, ge=0)
    # prepended to every topic the scorer reads and writes (ticks.trades, ticks.quotes, ticks.status, signals,
    # ticks.dlq), so
    # several environments can share one broker; `tickwise stream publish` takes the same (TICKWISE_TOPIC_PREFIX)
    topic_prefix: str = Field("", pattern=r"^[A-Za-z0-9._-]*$")

    @model_validator(mode="after")
    def _bars_are_on_kafka(self) -> "ServeSettings":
        if self.source == "bars":
            if "mode" in self.model_fields_set and self.mode != "kafka":
                raise ValueError("source 'bars' reads the Flink job's bars topic on Kafka: mode must be 'kafka'")
            self.mode = "kafka"
        return self

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

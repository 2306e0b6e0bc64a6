"""Dagster resources: thin ConfigurableResource wrappers over the plain clients in the core packages."""

import datetime as dt

import dagster as dg
import pyarrow as pa

from marketdata.lake import Lake


class LakeResource(dg.ConfigurableResource):
    """The project's Parquet lake (local path or s3://)."""

    root: str

    def lake(self) -> Lake:
        return Lake(self.root)


class MarketSourceResource(dg.ConfigurableResource):
    """Where raw market data lands before ingestion: a lake-shaped landing zone.

    The simulator, vendor file drops (``tickwise ingest --lake <landing>``) and the Kafka tick sink write there.
    """

    landing: str

    def source(self) -> Lake:
        return Lake(self.landing)

    def has(self, dataset: str) -> bool:
        return self.source().exists(dataset)

    def read_day(self, dataset: str, date: dt.date) -> pa.Table:
        src = self.source()
        return src.read(dataset, [date]) if src.exists(dataset) else _empty(dataset)


def _empty(dataset: str) -> pa.Table:
    from marketdata.schemas import schema_for

    return schema_for(dataset).empty_table()


class MLflowResource(dg.ConfigurableResource):
    """MLflow tracking/registry location (sqlite file by default; any tracking URI in production), and where its UI
    serves, for links from asset metadata."""

    tracking_uri: str
    ui_url: str = "http://127.0.0.1:5000"

    def url_of(self, run_id: str) -> str:
        """A run's page in the MLflow UI."""
        from modeling import registry

        return registry.run_url(self.ui_url, run_id, self.tracking_uri)

    def run_link(self, run_id: str) -> dg.MetadataValue:
        """A run as a link to its page in the MLflow UI."""
        return dg.MetadataValue.url(self.url_of(run_id))


def dagster_run_url(run_id: str) -> str:
    """A run's page in the Dagster UI (``TICKWISE_DAGSTER_UI_URL``)."""
    from orchestration.settings import TickwiseSettings

    return f"{TickwiseSettings().dagster_ui_url.rstrip('/')}/runs/{run_id}"


class RedisResource(dg.ConfigurableResource):
    """The online store's Redis (features and signals the scorer serves)."""

    url: str

    def client(self):  # type: ignore[no-untyped-def]
        import redis

        return redis.Redis.from_url(self.url)


class KafkaResource(dg.ConfigurableResource):
    """The tick/signal broker."""

    bootstrap_servers: str

    def producer(self):  # type: ignore[no-untyped-def]
        from kafka import KafkaProducer

        return KafkaProducer(bootstrap_servers=self.bootstrap_servers, api_version=(2, 8, 0))


class AlertSinkResource(dg.ConfigurableResource):
    """Where alerts go: the log always; a Slack-compatible webhook when ``webhook_url`` is set."""

    webhook_url: str | None = None

    def sink(self, log=None):  # type: ignore[no-untyped-def]
        from monitoring.alerts import AlertSink

        return AlertSink(self.webhook_url, log=log)

"""Shared fixtures: small simulated markets, the real-data folder, and the servers of the integration tests."""

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

from marketdata.simulator import MarketSimulator, SimConfig

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


# The clock of taq-highfrequency's raw XXX files (trades and quotes). Their DT columns are R POSIXct instants that
# pyreadr wrote out as naive UTC, so they are UTC, although the data README calls them New York wall-clock: the
# quotes' spread narrows and their count jumps at 14:30 (the 09:30 open) and the day's largest print, the NYSE
# closing cross (sale condition 6), is stamped 21:00:07 (16:00 New York). Read as New York time, the regular
# session kept 04:30-11:00 New York instead, most of it pre-market. tests/marketdata/test_real_data.py checks this.
TAQ_RAW_TZ = "UTC"


def shared_data(sub: str) -> Path:
    """A folder of ../shared/data, or skip the test (a user's fresh clone has no ../shared)."""
    p = SHARED_DATA / sub
    if not p.exists():
        pytest.skip(f"real-data sample {p} is absent")
    return p


@pytest.fixture(scope="session")
def small_market():
    """60 symbols x 3 days with ticks-ready detail, deterministic."""
    sim = MarketSimulator(SimConfig(symbols=60, days=3, seed=3, jump_rate=3e-4, split_rate=0.02, dividend_rate=0.05))
    days = list(sim.days())
    return sim, days


@pytest.fixture(scope="session")
def tick_day(small_market):
    from marketdata.ticks import ticks_for_day

    _, days = small_market
    trades, quotes = ticks_for_day(days[0], np.random.default_rng(11))
    return days[0], trades, quotes


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _url(name: str, url: str, default_port: int) -> str:
    u = urlparse(url)
    _need(name, u.hostname or "127.0.0.1", u.port or default_port)
    return url


def _need(name: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    msg = f"{name} not reachable at {host}:{port} (start it with `make services`)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return _url("Redis", os.environ.get("TICKWISE_REDIS_URL", "redis://127.0.0.1:6390/0"), 6379)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    boot = os.environ.get("TICKWISE_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    host, port = boot.rsplit(":", 1)
    _need("Kafka", host, int(port))
    return boot


@pytest.fixture(scope="session")
def flink_url() -> str:
    return _url("Flink", os.environ.get("TICKWISE_FLINK_URL", "http://127.0.0.1:18081"), 8081)


@pytest.fixture
def s3_lake(monkeypatch) -> str:
    """A fresh lake root on the S3 server from `make services` (s3proxy, bucket ``tickwise``); this process's S3
    clients (pyarrow) pointed at it."""
    import uuid

    endpoint = _url("S3", os.environ.get("TICKWISE_S3_ENDPOINT", "http://127.0.0.1:19000"), 19000)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", os.environ.get("AWS_ACCESS_KEY_ID", "tickwise"))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", os.environ.get("AWS_SECRET_ACCESS_KEY", "tickwise"))
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    for k in ("AWS_REQUEST_CHECKSUM_CALCULATION", "AWS_RESPONSE_CHECKSUM_VALIDATION"):  # s3proxy has no checksums
        monkeypatch.setenv(k, "when_required")
    return f"s3://tickwise/lake-{uuid.uuid4().hex[:8]}"

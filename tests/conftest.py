"""Shared fixtures: small simulated markets, the real-data folder, and the servers of the integration tests."""

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

from marketdata.simulator import MarketSimulator, SimConfig

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


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


def _need(name: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    msg = f"{name} not reachable at {host}:{port} (start it with `make services`)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("TICKWISE_REDIS_URL", "redis://127.0.0.1:6390/0")
    u = urlparse(url)
    _need("Redis", u.hostname or "127.0.0.1", u.port or 6379)
    return url


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    boot = os.environ.get("TICKWISE_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    host, port = boot.rsplit(":", 1)
    _need("Kafka", host, int(port))
    return boot

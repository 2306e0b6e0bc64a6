"""`tickwise serve --mode kafka` end to end against the real broker and Redis: its own topics (a prefix, so runs
share a broker), the momentum fallback without a champion, and the shadow log flushed to the lake as it goes."""

import uuid

import pyarrow as pa
import pytest
from rich.console import Console

import serving.app.runtime as runtime
from marketdata.lake import Lake
from marketdata.pipeline import simulate_to_lake
from marketdata.simulator import SimConfig
from serving.app.settings import ServeSettings
from serving.io import kafka_io
from serving.io.outputs import ShadowLog
from tickwise.tools.publish import publish_day

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_serve_scores_its_prefixed_topics_and_flushes_the_shadow_log_as_it_goes(
    tmp_path, kafka_bootstrap, redis_url, monkeypatch
):
    lake = Lake(str(tmp_path / "lake"))
    simulate_to_lake(SimConfig(symbols=16, days=1, seed=33), lake, ticks=True)
    day = lake.dates("trades")[0]
    prefix = f"t{uuid.uuid4().hex[:6]}."
    topics = [f"{prefix}ticks.{k}" for k in ("trades", "quotes", "status")]
    kafka_io.ensure_topics(kafka_bootstrap, topics, partitions=3)
    publish_day(lake, day, kafka_bootstrap, speed=0, prefix=f"{prefix}ticks")
    flushes: list[int] = []
    real = ShadowLog.flush

    def counted(log: ShadowLog) -> None:
        if log.held:
            flushes.append(len(log.held))
        real(log)

    monkeypatch.setattr(ShadowLog, "flush", counted)
    s = ServeSettings(
        mode="kafka",
        lake=lake.root,
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        mlflow_tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",  # empty: the momentum fallback serves
        group=f"g{uuid.uuid4().hex[:6]}",
        http_port=0,
        shadow_flush_minutes=60,
        topic_prefix=prefix,
    )
    summary = runtime.run_serve(s, str(day), idle_exit=5, console=Console(quiet=True))
    bars = lake.read("bars_1m", [day])
    served = lake.read("features_served", [day])
    minutes = pa.compute.count_distinct(served.column("ts")).as_py()
    assert summary["cycles"] >= 385 and minutes >= 385  # the last minutes wait for ticks after them (live)
    assert served.num_rows >= bars.num_rows - 3 * 16
    # every 60 scored minutes (a poll scoring several minutes at once flushes them all), then what was left at exit
    assert len(flushes) >= 6 and all(60 <= n <= 90 for n in flushes[:-1])
    assert sum(flushes) == minutes  # each minute written once

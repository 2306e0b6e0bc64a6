"""One active scorer and one standby on the same group, reading Flink's bars topic (`serve --source bars`), as a
user runs them: two `tickwise serve` processes, the real broker and Redis (their shared checkpoint). The active one
is killed (SIGKILL) mid-session; the standby takes over within a minute, from the newest checkpoint, and the
signals topic has every minute exactly once: none served twice, none skipped."""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pyarrow as pa

from marketdata.lake import Lake
from marketdata.pipeline import simulate_to_lake
from marketdata.simulator import SimConfig
from serving.io import kafka_io
from tests.serving.helpers import bar_batch, bar_headers, read_now

ROOT = Path(__file__).resolve().parents[2]
PACE_S = 0.4  # a minute's bars every this many seconds


def feed(bootstrap: str, topic: str, bars: pa.Table, stop: threading.Event) -> None:
    """The day's bars as the Flink job sends them at parallelism 1: one batch per minute, paced."""
    prod = kafka_io.feed_producer(bootstrap)
    ts = bars.column("ts").cast(pa.int64()).to_numpy()
    for m in sorted(set(ts.tolist())):
        if stop.is_set():
            break
        mine = bars.filter(pa.array(ts == m))
        prod.send(topic, bar_batch(mine), partition=0, headers=bar_headers(m, m, 0, 1, mine.num_rows))
        prod.flush()
        time.sleep(PACE_S)
    prod.close()


def published(bootstrap: str, topic: str) -> list[tuple[int, float]]:
    """(minute, when it was appended) of every message on the signals topic now, by minute."""
    return sorted((int(m.key), m.timestamp / 1e3) for m in read_now(bootstrap, topic))


class Scorer:
    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path):
        self.log = logs / f"{name}.log"
        env = env | {"TICKWISE_MLFLOW_TRACKING_URI": f"sqlite:///{logs}/{name}.db"}  # no champion: the fallback
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tickwise.cli", "serve", *args],
            env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip

    def alive(self) -> bool:
        assert self.proc.poll() is None, f"scorer died:\n{self.log.read_text()[-3000:]}"
        return True

    def owns(self) -> int | None:
        """How many partitions the last assignment gave it (None: not joined yet)."""
        lines = [x for x in self.log.read_text().splitlines() if "this scorer owns" in x]
        return int(lines[-1].split("owns ")[1].split()[0]) if lines else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


def wait(cond, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.25)
    raise AssertionError(f"{what} within {timeout:.0f} s")


def test_the_standby_takes_over_within_a_minute_and_no_minute_is_served_twice(kafka_bootstrap, redis_url, tmp_path):
    run = uuid.uuid4().hex[:8]
    lake = Lake(str(tmp_path / "lake"))
    simulate_to_lake(SimConfig(symbols=20, days=1, seed=31), lake)
    day = lake.dates("bars_1m")[-1]
    bars = lake.read("bars_1m", [day])
    topic, prefix = f"standby-{run}.bars", f"standby-{run}."
    kafka_io.ensure_topics(kafka_bootstrap, [topic], partitions=1)
    env = os.environ | {
        "TICKWISE_GROUP": f"standby-{run}",
        "TICKWISE_TOPIC_PREFIX": prefix,
        "TICKWISE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TICKWISE_CHECKPOINT_BASE_EVERY": "5",
    }
    args = ["--source", "bars", "--bars-topic", topic, "--lake", lake.root, "--date", str(day)]
    args += ["--redis-url", redis_url, "--http-port", "0"]
    stop = threading.Event()
    feeder = threading.Thread(target=feed, args=(kafka_bootstrap, topic, bars, stop), daemon=True)
    signals = f"{prefix}signals"
    scorers = [Scorer("a", args, env, tmp_path), Scorer("b", args, env, tmp_path)]
    try:
        wait(lambda: all(s.alive() and s.owns() is not None for s in scorers), 120, "both scorers joined the group")
        feeder.start()
        wait(
            lambda: all(s.alive() for s in scorers) and len(published(kafka_bootstrap, signals)) >= 20,
            120,
            "20 minutes scored",
        )
        active = [s for s in scorers if s.owns()]
        assert len(active) == 1, [s.log.read_text()[-2000:] for s in scorers]
        standby = next(s for s in scorers if s is not active[0])
        active[0].stop()
        killed = time.time()
        n = len(published(kafka_bootstrap, signals))
        wait(
            lambda: standby.alive() and len(published(kafka_bootstrap, signals)) >= n + 20,
            120,
            "the standby serving 20 more minutes",
        )
        stop.set()
        feeder.join(10)
        assert standby.proc.poll() is None, standby.log.read_text()[-3000:]
    finally:
        stop.set()
        for s in scorers:
            s.stop()

    got = published(kafka_bootstrap, signals)
    minutes = [m for m, _ in got]
    assert len(minutes) == len(set(minutes)), "a minute was served twice"
    day_minutes = sorted(set(bars.column("ts").cast(pa.int64()).to_pylist()))
    first = day_minutes.index(minutes[0])
    assert minutes == day_minutes[first : first + len(minutes)], "a minute was skipped"
    resumed = min(t for m, t in got if t > killed)
    assert resumed - killed < 60, f"the standby served again {resumed - killed:.0f} s after the kill"
    assert "took over from the checkpoint" in standby.log.read_text()

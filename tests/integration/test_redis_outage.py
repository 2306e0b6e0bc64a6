"""Redis goes away mid-session: scoring and publishing go on unchanged, and when a (fresh, empty) Redis returns
the store is caught up — including a symbol whose last row was written while Redis was down — and checkpoints land
again."""

import os
import shutil
import socket
import subprocess
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from features.engine import FeatureEngine
from marketdata.simulator import MarketSimulator, SimConfig
from serving.app.loop import ScoringLoop
from serving.io import checkpoint
from serving.io.checkpoint import CheckpointWriter
from serving.io.checkpoint_store import RedisCheckpointStore
from serving.io.online_store import InProcessOnlineStore, RedisOnlineStore
from serving.io.outputs import ListDeadLetters, Outputs
from serving.io.sinks import ListSink
from serving.io.sources import ListSource, Poll
from serving.step.ingest import Closed, TickAssembler
from serving.step.scorer import Scorer

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(port: int) -> subprocess.Popen:
    p = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            return p
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


@pytest.fixture
def redis_server():
    if shutil.which("redis-server") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("redis-server is not installed")
        pytest.skip("redis-server is not installed")
    port = _free_port()
    procs = [_start(port)]

    def restart(up: bool) -> None:
        if up:
            procs.append(_start(port))
        else:
            procs[-1].terminate()
            procs[-1].wait(5)

    yield port, restart
    for p in procs:
        p.terminate()


def test_scoring_survives_a_redis_outage_and_catches_up(redis_server):
    """The online store and the checkpoints both live on the Redis that dies: cycles and signals go on unchanged,
    the checkpoint's age is reported and alerted, and once a fresh (empty) Redis is back the store is caught up and
    a new base checkpoint lands, which restores the scorer's state exactly."""
    port, restart = redis_server
    url = f"redis://127.0.0.1:{port}/0"
    sim = MarketSimulator(SimConfig(symbols=20, days=1, seed=4))
    day = next(iter(sim.days()))
    engine = FeatureEngine(sim.reference(), sim.corporate_actions())
    quiet = sorted(set(day.bars.column("symbol").to_pylist()))[-1]
    ts_all = day.bars.column("ts").cast(pa.int64()).to_numpy()
    minutes = np.unique(ts_all)
    down_at, up_at, quiet_from = minutes[100], minutes[200], minutes[150]
    # the quiet symbol stops printing during the outage: its newest row exists only in the scorer's memory
    is_quiet = pc.equal(day.bars.column("symbol"), quiet).to_numpy(zero_copy_only=False)
    bars = day.bars.filter(pa.array(~(is_quiet & (ts_all >= quiet_from))))
    ts_all = bars.column("ts").cast(pa.int64()).to_numpy()
    polls = [Poll(closed=[Closed(int(t), bars.filter(pa.array(ts_all == t)))]) for t in minutes]

    alerts: list[str] = []
    store = RedisOnlineStore(url, engine.version, retry_s=0.0)
    writer = CheckpointWriter(
        RedisCheckpointStore(url, "outage", timeout_s=0.2), alert=alerts.append, alert_after_s=0.3
    )
    live = ScoringLoop(
        ListSource(polls), TickAssembler(), Scorer(engine), Outputs(ListSink(), store, alerts.append), ListDeadLetters(),
        writer,
    )  # fmt: skip
    ref = ScoringLoop(
        ListSource(polls), TickAssembler(), Scorer(engine),
        Outputs(ListSink(), InProcessOnlineStore(engine.version), lambda m: None), ListDeadLetters(),
    )  # fmt: skip
    ages = []
    for t in minutes:
        if t == down_at:
            assert writer.flush() and writer.last_minute == minutes[99]
            restart(False)
        if t == up_at:
            restart(True)
        a, b = live.poll_once(), ref.poll_once()
        assert [len(r.symbols) for r in a] == [len(r.symbols) for r in b]  # every cycle scored and published
        if down_at <= t < up_at:
            assert not store.healthy
            time.sleep(0.01)  # an outage long enough for the checkpoint's age to alert
            ages.append(writer.age_s)
        writer.flush()
    assert store.outages == 1 and store.healthy and store.caught_up_rows > 0
    assert live.outputs.sink.table().equals(ref.outputs.sink.table())  # the signal stream never noticed
    syms = sorted(set(bars.column("symbol").to_pylist()))
    got, want = store.read(syms), ref.outputs.store.read(syms)
    assert set(got) == set(want) == set(syms)
    for s in syms:
        assert got[s][0] == want[s][0]
        np.testing.assert_array_equal(got[s][1], want[s][1])
    assert want[quiet][0] < int(quiet_from)  # it really was written only while Redis was down
    # checkpoints: failed while down, the age grew and was alerted, then a new base restores the state exactly
    assert writer.stats["failed"] > 0 and max(ages) > 0.3
    assert any(a.startswith("checkpoint: the last good one is") for a in alerts)
    assert any(a.startswith("checkpoint: written again") for a in alerts)
    assert writer.last_minute == minutes[-1] and writer.age_s < 5
    arrays, meta = checkpoint.load(RedisCheckpointStore(url, "outage"))
    step, _ = live.scorer.state()
    for k, v in step.items():
        np.testing.assert_array_equal(arrays[f"step/{k}"], v, err_msg=k)
    writer.close()

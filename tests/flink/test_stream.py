"""The streaming job on the session cluster from ``make services``, against the real broker: ticks on the tick
topics -> bars on the bars topic exactly once, late ticks and malformed messages dead-lettered with their reason, a
TaskManager killed mid-session (SIGKILL) and the job recovered from its checkpoint on a new one, then stopped with
a savepoint at parallelism 1 and resumed at 2. The committed bars (``read_committed``) equal the Python
aggregator's on the on-time ticks, bar for bar, none twice and none missing; and the scorer reading them
(`serve --source bars`: :class:`serving.io.kafka_sources.KafkaBarsSource`) serves every minute once, with the same
signals as the in-process path on the same ticks."""

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.engine import FeatureEngine
from marketdata.aggregate import aggregate
from marketdata.lake import Lake
from marketdata.schemas import NS_PER_MIN
from marketdata.simulator import MarketSimulator, SimConfig
from marketdata.ticks import ticks_for_day
from serving import flink_cluster
from serving.app.loop import ScoringLoop
from serving.feed import tick_codec
from serving.io import kafka_io
from serving.io.kafka_sources import KafkaBarsSource
from serving.io.online_store import InProcessOnlineStore
from serving.io.outputs import ListDeadLetters, Outputs
from serving.io.sinks import ListSink
from serving.step.ingest import TickAssembler
from tests.flink.helpers import ticks_key, wait_for_lake
from tests.serving.helpers import in_process, model_scorer, signals_of, trained_model

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / ".services" / "flink"
PARTITIONS = 2
MINUTES = 24


def session():
    sim = MarketSimulator(SimConfig(symbols=20, days=1, seed=21))
    day = next(iter(sim.days()))
    trades, quotes = ticks_for_day(day, np.random.default_rng(2))
    t0 = int(trades.column("ts").cast(pa.int64()).to_numpy()[0]) // NS_PER_MIN * NS_PER_MIN
    end = pa.scalar(t0 + MINUTES * NS_PER_MIN, pa.int64()).cast(trades.schema.field("ts").type)
    keep = lambda t: t.filter(pc.less(t.column("ts"), end))  # noqa: E731
    return t0, keep(trades), keep(quotes), sim.reference()


def from_bars_topic(reference, model, bootstrap: str, topic: str, through: int) -> list:  # type: ignore[no-untyped-def]
    """The scorer fed the Flink job's committed bars, until it has scored minute ``through``."""
    s = model_scorer(reference, model)
    out = Outputs(ListSink(), InProcessOnlineStore(s.engine.version), lambda m: None)
    src = KafkaBarsSource(bootstrap, f"scorer-{uuid.uuid4().hex[:8]}", topic)
    loop = ScoringLoop(src, TickAssembler(lateness_ns=0), s, out, ListDeadLetters())
    cycles, deadline = [], time.monotonic() + 60
    while s.last_minute < through and time.monotonic() < deadline:
        cycles += loop.poll_once(200)
    src.close()
    return cycles


def publish(prod, topics: dict[str, str], tables: dict[str, pa.Table], t0: int, lo: int, hi: int, parts=None) -> None:
    """Minutes [lo, hi) of each table (of partitions ``parts``, default all), minute by minute, each minute's ticks
    of a partition in one message."""
    for m in range(lo, hi):
        for kind, t in tables.items():
            ts = t.column("ts").cast(pa.int64()).to_numpy()
            mine = t.filter(pa.array((ts >= t0 + m * NS_PER_MIN) & (ts < t0 + (m + 1) * NS_PER_MIN)))
            part = kafka_io.partitions_of_rows(mine.column("symbol"), PARTITIONS)
            for p in parts or range(PARTITIONS):
                rows = mine.filter(pa.array(part == p))
                if rows.num_rows:
                    prod.send(topics[kind], tick_codec.encode(kind, rows), partition=p)
    prod.flush()


def wait_for_bars(bootstrap: str, topic: str, through: int, timeout: float = 90.0) -> pa.Table:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        bars, meta = flink_cluster.read_bars(bootstrap, topic, timeout_ms=1000)
        done = flink_cluster.complete_through(meta)
        if done is not None and done >= through:
            return bars
        time.sleep(0.5)
    raise AssertionError(f"minute {through} not whole on the bars topic within {timeout:.0f} s; batches: {meta[-6:]}")


def kill_taskmanagers() -> None:
    for f in STATE.glob("taskmanager-*.pid"):
        try:
            os.kill(int(f.read_text()), signal.SIGKILL)
        except ProcessLookupError:
            pass
        f.unlink()


def test_exactly_once_through_a_killed_taskmanager_and_a_rescale(flink_url, flink_jobs, kafka_bootstrap, tmp_path):
    run = uuid.uuid4().hex[:8]
    topics = {k: f"flink-{run}.{k}" for k in ("trades", "quotes", "status")}
    job = flink_cluster.StreamJob(
        kafka_bootstrap,
        trades_topic=topics["trades"],
        quotes_topic=topics["quotes"],
        status_topic=topics["status"],
        bars_topic=f"flink-{run}.bars",
        dead_letter_topic=f"flink-{run}.dead",
        group=f"flink-{run}",
        idle_ms=2000,
        checkpoint_ms=500,
        transactional_id=f"tw-{run}",
        lake=str(tmp_path / "lake"),
    )
    kafka_io.ensure_topics(kafka_bootstrap, [*topics.values()], partitions=PARTITIONS)
    kafka_io.ensure_topics(kafka_bootstrap, [job.bars_topic, job.dead_letter_topic], partitions=2)
    t0, trades, quotes, reference = session()
    tables = {"trades": trades, "quotes": quotes}
    prod = kafka_io.feed_producer(kafka_bootstrap)

    job_id = flink_cluster.submit(job, flink_url, parallelism=1)
    flink_jobs.append(job_id)
    flink_cluster.wait_running(flink_url, job_id)
    # malformed messages: not Arrow at all, and a good message cut short
    good = tick_codec.encode("trades", trades.slice(0, 5))
    for bad in (b"not arrow", good[: len(good) - 40]):
        prod.send(topics["trades"], bad, partition=1)
    # partition 0 delivers minutes 0-7 while partition 1, quiet since the job started, has not delivered yet: it
    # must hold the watermark (not be idle), so its backlog, arriving 3 s later, is on time
    publish(prod, topics, tables, t0, 0, 8, parts=[0])
    time.sleep(3)
    publish(prod, topics, tables, t0, 0, 8, parts=[1])
    wait_for_bars(kafka_bootstrap, job.bars_topic, t0 + 7 * NS_PER_MIN)

    # a TaskManager dies mid-session; a new one takes its slots and the job resumes from its last checkpoint
    kill_taskmanagers()
    subprocess.run([str(ROOT / "infra" / "flink.sh"), "taskmanager"], check=True, capture_output=True)
    publish(prod, topics, tables, t0, 8, 14)
    wait_for_bars(kafka_bootstrap, job.bars_topic, t0 + 13 * NS_PER_MIN, timeout=120)
    assert flink_cluster.restored_checkpoint(flink_url, job_id) is not None, "the job did not recover from a checkpoint"

    # late ticks: prints of minute 3 arriving now, with sequence numbers never seen
    late = trades.slice(0, 25)
    late = late.set_column(late.column_names.index("seq"), "seq", pc.add(late.column("seq"), 10**9))
    prod.send(topics["trades"], tick_codec.encode("trades", late), partition=0)

    # stop with a savepoint at parallelism 1, resume at 2
    savepoint = flink_cluster.stop_with_savepoint(flink_url, job_id, f"file://{tmp_path}/savepoints")
    job_id = flink_cluster.submit(job, flink_url, parallelism=2, savepoint=savepoint)
    flink_jobs.append(job_id)
    flink_cluster.wait_running(flink_url, job_id)
    publish(prod, topics, tables, t0, 14, MINUTES)
    last = t0 + (MINUTES - 1) * NS_PER_MIN
    got = wait_for_bars(kafka_bootstrap, job.bars_topic, last, timeout=120)
    raw = {"trades": pa.concat_tables([trades, late.cast(trades.schema)]), "quotes": quotes}  # late prints too
    lake = wait_for_lake(Lake(str(tmp_path / "lake")), raw, last)
    flink_cluster.cancel(flink_url, job_id)

    # the lake: every raw tick once (the killed TaskManager's unfinished files never became visible) and the bars
    for kind, sent in raw.items():
        assert ticks_key(lake[kind]) == ticks_key(sent), kind
    lake_bars = lake["bars_1m"].filter(pc.less_equal(lake["bars_1m"].column("ts").cast(pa.int64()), last))
    order = [("ts", "ascending"), ("symbol", "ascending")]
    assert lake_bars.sort_by(order).equals(
        got.filter(pc.less_equal(got.column("ts").cast(pa.int64()), last)).sort_by(order)
    )

    ref, _ = aggregate(trades, quotes)
    ref = ref.filter(pc.less_equal(ref.column("ts").cast(pa.int64()), last))
    got = got.filter(pc.less_equal(got.column("ts").cast(pa.int64()), last))
    keys = list(zip(got.column("symbol").to_pylist(), got.column("ts").to_pylist(), strict=True))
    assert len(keys) == len(set(keys)), "a bar was committed twice"
    assert set(keys) == set(zip(ref.column("symbol").to_pylist(), ref.column("ts").to_pylist(), strict=True))
    for name in ref.column_names:
        assert got.column(name).equals(ref.column(name)), name

    # the late prints are dead-lettered with their reason and where they were, none folded into a bar
    c = kafka_io.consumer(
        kafka_bootstrap, job.dead_letter_topic, group=None, consumer_timeout_ms=3000, isolation_level="read_committed"
    )

    dead = [json.loads(m.value) for m in c]
    c.close()
    late_dead = [d for d in dead if d["reason"] == "event time behind watermark"]
    assert sorted(d["index"] for d in late_dead) == list(range(25))
    assert {d["topic"] for d in late_dead} == {topics["trades"]}
    assert all(d["tick"]["seq"] >= 10**9 for d in late_dead)
    whole = [d for d in dead if "value_b64" in d]
    assert len(whole) == 2 and all(d["reason"].startswith("not an Arrow IPC tick batch") for d in whole), whole

    # the scorer on Flink's bars: every minute once, the same signals as the in-process path on the same ticks
    model = trained_model(ref, FeatureEngine(reference), rounds=10)
    served = from_bars_topic(reference, model, kafka_bootstrap, job.bars_topic, last)
    assert [c.ts for c in served] == sorted({c.ts for c in served}), "a minute scored twice or out of order"
    ref_cycles = in_process(reference, model, tables, t0, MINUTES, last)
    assert [c.ts for c in served] == [c.ts for c in ref_cycles]
    a, b = signals_of(served), signals_of(ref_cycles)
    assert "model" in a.column("source").to_pylist()  # scored by the model (a degenerate minute: the breaker)
    assert a.equals(b)

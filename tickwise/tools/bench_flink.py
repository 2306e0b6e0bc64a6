"""`tickwise bench flink`: ticks through Kafka -> the Flink job -> the bars topic, beside the in-process Python path.

A publisher process replays a simulated session at real time, calibrated tick rates scaled to
``ticks_per_second`` (the one `bench e2e` uses). The streaming job runs on the session cluster at ``parallelism``
with its defaults (checkpoints every second: bars commit at each). This process reads the bars topic
``read_committed`` and, on the same tick topics with a consumer group of its own, runs the Python path that
`serve --mode kafka` runs before scoring (the Kafka tick source and the tick assembler).

Per minute: bar latency = when the minute was whole (Flink: every subtask's batch reporting a watermark past it
was read; Python: the assembler closed it) - the producer timestamp of the last message holding a tick of that
minute - the allowed lateness (a minute can close only once the watermark, event time minus the lateness, passes
its end). The session's first minute is left out for both: it measures start-up.
"""

import datetime as dt
import tempfile
import time
import uuid

import numpy as np

from serving.io import kafka_io
from serving.io.kafka_sources import KafkaTickSource
from serving.step.ingest import TickAssembler
from tickwise.tools.bench_e2e import _stream, last_tick_ms, start_publisher

PARTITIONS = 4


def _percentiles(lat: dict[int, float], first: int) -> dict:
    x = np.array([v for k, v in sorted(lat.items()) if k > first], float)
    if not len(x):
        return {"p50_ms": None, "p99_ms": None, "max_ms": None, "minutes": 0}
    return {
        "p50_ms": float(np.percentile(x, 50)),
        "p99_ms": float(np.percentile(x, 99)),
        "max_ms": float(x.max()),
        "minutes": len(x),
    }


def run(
    symbols: int,
    minutes: int,
    bootstrap: str,
    rest: str,
    ticks_per_second: float = 50_000,
    parallelism: int = 1,
    lateness_ms: int = 2000,
    checkpoint_ms: int = 1000,
    batch_ms: float = 10.0,
    log=print,
) -> dict:  # type: ignore[no-untyped-def]
    from serving import flink_cluster

    _, _, day, trades, quotes = _stream(symbols, minutes, ticks_per_second, log)
    prefix = f"bf{uuid.uuid4().hex[:6]}"
    kinds = {f"{prefix}.{k}": k for k in ("trades", "quotes", "status")}
    kafka_io.ensure_topics(bootstrap, list(kinds), partitions=PARTITIONS)
    kafka_io.ensure_topics(bootstrap, [f"{prefix}.bars", f"{prefix}.dead"], partitions=PARTITIONS)
    job = flink_cluster.StreamJob(
        bootstrap,
        f"{prefix}.trades",
        f"{prefix}.quotes",
        f"{prefix}.status",
        f"{prefix}.bars",
        f"{prefix}.dead",
        group=f"{prefix}-flink",
        lateness_ms=lateness_ms,
        checkpoint_ms=checkpoint_ms,
        transactional_id=prefix,
    )
    job_id = flink_cluster.submit(job, rest, parallelism=parallelism)
    flink_cluster.wait_running(rest, job_id)
    log(f"Flink job {job_id} running at parallelism {parallelism}; the Python path on the same topics")

    assembler = TickAssembler(lateness_ns=lateness_ms * 1_000_000, kinds=kinds)
    source = KafkaTickSource(
        bootstrap, f"{prefix}-py", tuple(kinds), on_assign=lambda mine, every: assembler.assign(mine)
    )
    bars = kafka_io.consumer(bootstrap, f"{prefix}.bars", group=None, isolation_level="read_committed")
    py_closed: dict[int, float] = {}
    fl_meta: list[dict] = []
    fl_closed: dict[int, float] = {}
    fl_open: set[int] = set()  # minutes with batches read, not yet whole
    n_bars = {"flink": 0, "python": 0}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            n_ticks = trades.num_rows + quotes.num_rows
            pub, done = start_publisher(tmp, day.date, trades, quotes, bootstrap, 1.0, prefix, batch_ms)
            del trades, quotes
            while not source.consumer.assignment():
                source.poll(100)
            log(f"publishing {n_ticks:,} ticks at real time in {batch_ms:g} ms batches")
            pub.start()
            t_end: float | None = None
            while t_end is None or time.monotonic() < t_end:
                if not pub.is_alive() and t_end is None:
                    t_end = time.monotonic() + 5 + lateness_ms / 1000 + 3 * checkpoint_ms / 1000
                closed, _ = assembler.process(source.poll(20).records)
                now = time.time()
                for c in closed:
                    if c.bars.num_rows:
                        ts = int(c.bars.column("ts").cast("int64").to_numpy().max())
                        py_closed.setdefault(ts, now)
                        n_bars["python"] += c.bars.num_rows
                got = [m for ms in bars.poll(timeout_ms=5).values() for m in ms]
                for m in got:
                    fl_meta.append({k: int(v) for k, v in m.headers})
                    n_bars["flink"] += fl_meta[-1]["bars"]
                    fl_open.add(fl_meta[-1]["minute"])
                through = flink_cluster.complete_through(fl_meta) if got else None
                if through is not None:
                    for e in [e for e in fl_open if e <= through]:
                        fl_closed.setdefault(e, time.time())
                        fl_open.discard(e)
            pub.join()
            published, publish_s = done.get(timeout=10)
    finally:
        bars.close()
        source.close()
        flink_cluster.cancel(rest, job_id)
    last_tick = last_tick_ms(bootstrap, prefix)
    first = min(last_tick)

    def latency(closed: dict[int, float]) -> dict[int, float]:
        return {e: t * 1000 - last_tick[e] - lateness_ms for e, t in closed.items() if e in last_tick}

    fl, py = latency(fl_closed), latency(py_closed)
    f, p = _percentiles(fl, first), _percentiles(py, first)
    return {
        "ticks_per_second": n_ticks / max(publish_s, 1e-9),
        "bar_latency_p50_ms": f["p50_ms"],
        "bar_latency_p99_ms": f["p99_ms"],
        "bar_latency_max_ms": f["max_ms"],
        "parallelism": parallelism,
        "python": {
            "bar_latency_p50_ms": p["p50_ms"],
            "bar_latency_p99_ms": p["p99_ms"],
            "bar_latency_max_ms": p["max_ms"],
            "bars": n_bars["python"],
        },
        "bars": n_bars["flink"],
        "minutes_measured": f["minutes"],
        "per_minute": [
            {
                "minute": e,
                "flink_ms": round(fl[e], 1) if e in fl else None,
                "python_ms": round(py[e], 1) if e in py else None,
            }
            for e in sorted(last_tick)
        ],
        "ticks": n_ticks,
        "ticks_published": published,
        "symbols": symbols,
        "minutes": minutes,
        "lateness_ms": lateness_ms,
        "checkpoint_ms": checkpoint_ms,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }

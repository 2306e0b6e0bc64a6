"""`tickwise stream publish`: replay a lake day into Kafka as feed adapters would send it.

Ticks go out in batches (:mod:`serving.feed.tick_codec`): every ``batch_ms`` of wall time, one message per kind and
partition holding the ticks of the partition's symbols that arrived in that window, sent to that partition (the one
Kafka's default partitioner gives the symbol as a key, so per-symbol order holds as it would with keyed
single-symbol messages). Paced at ``speed`` x real time, a window covers ``batch_ms x speed`` of event time and goes
out when its end has passed, as an adapter sends what it received during the window; unpaced (``speed`` 0), a
window covers a second of event time. A day's halts go out first as trading-status messages.
"""

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from marketdata.lake import Lake
from serving.feed import tick_codec
from serving.io import kafka_io


@dataclass
class Sent:
    """What the publisher has sent so far, for progress and the benchmark."""

    ticks: int = 0
    messages: int = 0
    behind_s: float = 0.0  # how far the last window went out after its time (0 = kept up)


def publish_day(
    lake: Lake,
    day: dt.date,
    bootstrap: str,
    speed: float = 60.0,
    prefix: str = "ticks",
    batch_ms: float = 10.0,
    progress: Callable[[Sent], None] | None = None,
) -> int:
    """Produce the day's trades and quotes in event-time order; ``speed`` x real time (0 = as fast as possible).
    Returns the ticks sent."""
    tables = {k: lake.read(k, [day]).sort_by("ts") for k in ("trades", "quotes") if _has(lake, k, day)}
    if not tables:
        raise FileNotFoundError(f"no trades or quotes for {day} in {lake.root}")
    topics = {k: f"{prefix}.{k}" for k in ("trades", "quotes", "status")}
    kafka_io.ensure_topics(bootstrap, list(topics.values()))
    prod = kafka_io.feed_producer(bootstrap)
    n_parts = {k: len(prod.partitions_for(t)) for k, t in topics.items()}
    sent = Sent()
    if _has(lake, "halts", day):
        prod.send(topics["status"], tick_codec.encode("status", tick_codec.halts_to_status(lake.read("halts", [day]))))
    ns = {k: t.column("ts").cast(pa.int64()).to_numpy() for k, t in tables.items()}
    parts = {k: kafka_io.partitions_of_rows(t.column("symbol"), n_parts[k]) for k, t in tables.items()}
    step = int(batch_ms * 1e6 * speed) if speed > 0 else 1_000_000_000
    t0_evt = min(int(v[0]) for v in ns.values() if len(v))
    edges = np.arange(t0_evt, max(int(v[-1]) for v in ns.values() if len(v)) + step + 1, step)
    cuts = {k: np.searchsorted(v, edges) for k, v in ns.items()}
    empty = {k: tick_codec.encode(k, t.slice(0, 0)) for k, t in tables.items()}
    t0_wall, last_report = time.monotonic(), time.monotonic()
    for w in range(len(edges) - 1):
        if speed > 0:
            due = (edges[w + 1] - t0_evt) / 1e9 / speed
            wait = due - (time.monotonic() - t0_wall)
            if wait > 0.0005:
                time.sleep(wait)
            sent.behind_s = max(0.0, -wait)
        through = kafka_io.through_header(int(edges[w + 1]))  # every tick before the window's end is out
        for kind, table in tables.items():
            a, b = int(cuts[kind][w]), int(cuts[kind][w + 1])
            window, p = table.slice(a, b - a), parts[kind][a:b]
            present = np.unique(p)
            for part in present:
                rows = window.take(np.flatnonzero(p == part)) if len(present) > 1 else window
                prod.send(topics[kind], tick_codec.encode(kind, rows), partition=int(part), headers=through)
                sent.messages += 1
            if speed > 0:  # live pace: a partition with nothing in this window says so, not to hold the minute
                for part in sorted(set(range(n_parts[kind])) - {int(x) for x in present}):
                    prod.send(topics[kind], empty[kind], partition=part, headers=through)
            sent.ticks += b - a
        if progress and time.monotonic() - last_report >= 1.0:
            last_report = time.monotonic()
            progress(sent)
    prod.flush()
    prod.close()
    if progress:
        progress(sent)
    return sent.ticks


def _has(lake: Lake, kind: str, day: dt.date) -> bool:
    return lake.exists(kind) and day in lake.dates(kind)

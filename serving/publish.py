"""`tickwise stream publish`: replay lake ticks into Kafka as a live feed would (keyed by symbol, paced)."""

import datetime as dt
import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from marketdata.lake import Lake
from serving import kafka_io, tick_codec


def publish_day(
    lake: Lake,
    day: dt.date,
    bootstrap: str,
    speed: float = 60.0,
    on_minute: Callable[[int], None] | None = None,
    prefix: str = "ticks",
) -> int:
    """Produce the day's trades and quotes in event-time order; ``speed`` x real time (0 = as fast as possible)."""
    prod = kafka_io.producer(bootstrap)
    parts = []
    for kind in ("trades", "quotes"):
        if lake.exists(kind) and day in lake.dates(kind):
            t = lake.read(kind, [day])
            parts.append((kind, t.column("ts").cast(pa.int64()).to_numpy(), tick_codec.encode_rows(kind, t)))
    if not parts:
        raise FileNotFoundError(f"no trades or quotes for {day} in {lake.root}")
    ts = np.concatenate([p[1] for p in parts])
    msgs = [(f"{prefix}.{kind}", kv) for kind, _, rows in parts for kv in rows]
    order = np.argsort(ts, kind="stable")
    t0_wall, t0_evt = time.monotonic(), int(ts[order[0]])
    last_min = None
    sent = 0
    for i in order:
        if speed > 0:
            wait = (ts[i] - t0_evt) / 1e9 / speed - (time.monotonic() - t0_wall)
            if wait > 0.005:
                time.sleep(wait)
        topic, (k, v) = msgs[i]
        prod.send(topic, key=k, value=v)
        sent += 1
        m = int(ts[i]) // 60_000_000_000
        if on_minute and m != last_min:
            on_minute(m)
            last_min = m
    prod.flush()
    prod.close()
    return sent

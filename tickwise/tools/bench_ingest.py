"""`tickwise bench ingest`: records -> decoded, screened ticks folded into the partial bars, on one core.

The stream is the simulator's, calibrated on real rates (:class:`marketdata.ticks.TickRates`) and scaled to
``ticks_per_second``, batched as the feed adapters send it (one message per kind and partition every ``batch_ms``)
and polled as the Kafka source delivers it. Timed: :meth:`serving.step.ingest.TickAssembler.process` over every poll —
decoding, screening, folding, and closing minutes as the watermark passes them — with Arrow on one thread.
"""

import resource
import time

import numpy as np
import pyarrow as pa

from marketdata.simulator import MarketSimulator, SimConfig
from marketdata.ticks import TickRates, ticks_for_day
from serving.feed import tick_codec
from serving.io import kafka_io
from serving.step.ingest import Record, TickAssembler
from tickwise.tools.bench_scorer import _subday


def stream(symbols: int, minutes: int, ticks_per_second: float, seed: int = 5) -> tuple[pa.Table, pa.Table]:
    """The first ``minutes`` of a simulated session at ``ticks_per_second`` on average (the open's bursts kept)."""
    sim = MarketSimulator(SimConfig(symbols=symbols, days=1, seed=2))
    day = _subday(next(sim.days()), minutes)
    trades, quotes = ticks_for_day(day, np.random.default_rng(seed))
    scale = ticks_per_second * minutes * 60 / max(trades.num_rows + quotes.num_rows, 1)
    if abs(scale - 1) > 0.02:
        trades, quotes = ticks_for_day(day, np.random.default_rng(seed), TickRates(scale=scale))
    return trades.sort_by("ts"), quotes.sort_by("ts")


def records(trades: pa.Table, quotes: pa.Table, batch_ms: float, partitions: int) -> list[Record]:
    """Feed-adapter messages in arrival order: per ``batch_ms`` window, one per kind and partition."""
    out: list[Record] = []
    offsets: dict[tuple[str, int], int] = {}
    step = int(batch_ms * 1e6)
    tabs = {"trades": trades, "quotes": quotes}
    ns = {k: t.column("ts").cast(pa.int64()).to_numpy() for k, t in tabs.items()}
    parts = {k: kafka_io.partitions_of_rows(t.column("symbol"), partitions) for k, t in tabs.items()}
    lo = min(int(v[0]) for v in ns.values())
    edges = np.arange(lo, max(int(v[-1]) for v in ns.values()) + step + 1, step)
    cuts = {k: np.searchsorted(v, edges) for k, v in ns.items()}
    for w in range(len(edges) - 1):
        for k, t in tabs.items():
            a, b = int(cuts[k][w]), int(cuts[k][w + 1])
            if a == b:
                continue
            window, p = t.slice(a, b - a), parts[k][a:b]
            for part in np.unique(p):
                off = offsets.get((k, int(part)), 0)
                offsets[(k, int(part))] = off + 1
                value = tick_codec.encode(k, window.take(np.flatnonzero(p == part)))
                out.append(Record(f"ticks.{k}", int(part), off, None, value))
    return out


def run(
    symbols: int = 5000,
    minutes: int = 5,
    ticks_per_second: float = 50_000,
    batch_ms: float = 10.0,
    partitions: int = 4,
    poll_records: int = 2000,
    log=print,
) -> dict:  # type: ignore[no-untyped-def]
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    t0 = time.perf_counter()
    trades, quotes = stream(symbols, minutes, ticks_per_second)
    n = trades.num_rows + quotes.num_rows
    recs = records(trades, quotes, batch_ms, partitions)
    log(f"stream: {n:,} ticks ({trades.num_rows:,} trades, {quotes.num_rows:,} quotes) of {symbols:,} symbols in "
        f"{len(recs):,} messages, built in {time.perf_counter() - t0:.0f} s")  # fmt: skip
    del trades, quotes
    asm = TickAssembler(lateness_ns=2_000_000_000, clock=lambda: 2**62)  # the replayed day is not "far future"
    asm.assign({(f"ticks.{k}", p) for k in ("trades", "quotes") for p in range(partitions)})
    polls = [recs[i : i + poll_records] for i in range(0, len(recs), poll_records)]
    asm.process(polls[0][:10])  # the compiled fold's first call (numba's cache load) is not the stream's cost
    asm = TickAssembler(lateness_ns=2_000_000_000, clock=lambda: 2**62)
    asm.assign({(f"ticks.{k}", p) for k in ("trades", "quotes") for p in range(partitions)})
    cpu0, t0 = time.process_time(), time.perf_counter()
    per_poll, closed, dead = [], 0, 0
    for p in polls:
        t = time.perf_counter()
        c, d = asm.process(p)
        per_poll.append((time.perf_counter() - t) * 1e3)
        closed += len(c)
        dead += len(d)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if asm.ticks + dead != n:
        raise RuntimeError(f"{n - asm.ticks - dead:,} ticks neither accepted nor dead-lettered")
    return {
        "symbols": symbols,
        "minutes": minutes,
        "ticks": n,
        "messages": len(recs),
        "ticks_per_message": n / len(recs),
        "polls": len(polls),
        "ticks_per_second": n / wall,
        "cpu_ticks_per_second": n / cpu,
        "seconds": wall,
        "poll_p50_ms": float(np.percentile(per_poll, 50)),
        "poll_p99_ms": float(np.percentile(per_poll, 99)),
        "minutes_closed": closed,
        "dead_letters": dead,
        "accepted": asm.ticks,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "target_ticks_per_second": 500_000,
        "goal_ticks_per_second": 1_000_000,
        "stream_ticks_per_second": n / (minutes * 60),
    }

"""Records in -> ticks for the scorer, or dead letters with topic, partition, offset and reason.

:class:`RecordProcessor` is pure over its inputs (a list of records and the scorer's state), so tests drive it with
a list source; the Kafka loop feeds it polled batches. Nothing is dropped silently: malformed bytes, missing
fields, NaN/zero/negative prices or sizes, crossed quotes, duplicates, ticks behind the watermark, unknown
symbols and far-future timestamps all become dead letters, and a counter per reason counts them.
"""

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from marketdata.schemas import NS_PER_MIN
from serving import tick_codec
from serving.scorer import CycleResult, Scorer

KINDS = {"ticks.trades": "trades", "ticks.quotes": "quotes"}


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


@dataclass
class DeadLetter:
    topic: str
    partition: int
    offset: int
    reason: str
    value: bytes

    def to_json(self) -> bytes:
        import base64
        import json

        return json.dumps(
            {
                "topic": self.topic,
                "partition": self.partition,
                "offset": self.offset,
                "reason": self.reason,
                "value_b64": base64.b64encode(self.value).decode(),
            }
        ).encode()


@dataclass
class RecordProcessor:
    scorer: Scorer
    universe: set[str] | None = None
    lateness_ns: int = 2_000_000_000
    max_future_ns: int = 3600 * 1_000_000_000  # ahead of the wall clock by more than this = far future
    clock: Callable[[], int] = time.time_ns
    kinds: dict[str, str] = field(default_factory=lambda: dict(KINDS))
    counts: Counter = field(default_factory=Counter)
    max_event_ts: int = 0
    # event time per source partition: the watermark follows the slowest one, so a partition that runs ahead
    # never makes another partition's on-time ticks late
    partition_max: dict[tuple[str, int], int] = field(default_factory=dict)
    # partitions this process owns (set by the Kafka loop); until each has reported, the watermark waits
    expected: set[tuple[str, int]] | None = None
    idle_partition_s: float = 5.0
    # scale-out (serving.scaleout): what to do when this process's watermark advances, instead of scoring
    on_watermark: Callable[[int], list[CycleResult]] | None = None
    _last_seen: dict[tuple[str, int], float] = field(default_factory=dict)
    # when the first record arrived since the partitions were (re)assigned: an owned partition that has not
    # reported holds the watermark back for ``idle_partition_s`` from then (not from start-up: joining a group
    # can take longer than that, and then the first poll's partitions would make the others' ticks late)
    _started: float | None = None

    def process(self, records: list[Record]) -> tuple[list[CycleResult], list[DeadLetter]]:
        """Decode, screen and buffer a batch, then advance the watermark; returns the cycles run and dead letters."""
        dead: list[DeadLetter] = []
        if records and self._started is None:
            self._started = time.monotonic()
        good: dict[str, list[dict]] = {"trades": [], "quotes": []}
        where: dict[tuple[str, str, int], Record] = {}
        horizon = self.clock() + self.max_future_ns
        for r in records:
            kind = self.kinds.get(r.topic.split(".v")[0]) or self.kinds.get(r.topic)
            if kind is None:
                dead.append(DeadLetter(r.topic, r.partition, r.offset, f"unknown topic {r.topic!r}", r.value))
                continue
            try:
                tick = tick_codec.decode(kind, r.value)
            except tick_codec.BadTick as e:
                dead.append(DeadLetter(r.topic, r.partition, r.offset, str(e), r.value))
                continue
            if self.universe is not None and tick["symbol"] not in self.universe:
                dead.append(DeadLetter(r.topic, r.partition, r.offset, "unknown symbol", r.value))
                continue
            if tick["ts"] > horizon:
                dead.append(DeadLetter(r.topic, r.partition, r.offset, "far-future timestamp", r.value))
                continue
            good[kind].append(tick)
            where[(kind, tick["symbol"], tick["seq"])] = r
        trades = tick_codec.to_table("trades", good["trades"]) if good["trades"] else None
        quotes = tick_codec.to_table("quotes", good["quotes"]) if good["quotes"] else None
        rejects = self.scorer.add_ticks(trades, quotes)
        refused = set(
            zip(
                rejects.column("source").to_pylist(),
                rejects.column("symbol").to_pylist(),
                rejects.column("seq").to_pylist(),
                strict=True,
            )
        )
        for kind, ticks in good.items():
            for t in ticks:
                key = (kind, t["symbol"], t["seq"])
                if key not in refused:
                    r = where[key]
                    pk = (r.topic, r.partition)
                    self.partition_max[pk] = max(self.partition_max.get(pk, 0), t["ts"])
                    self._last_seen[pk] = time.monotonic()
        for src, sym, seq, reason in zip(
            rejects.column("source").to_pylist(),
            rejects.column("symbol").to_pylist(),
            rejects.column("seq").to_pylist(),
            rejects.column("reason").to_pylist(),
            strict=True,
        ):
            r = where.get((src, sym, seq))
            if r is None:  # a duplicate inside this batch maps to the first copy's record: still dead-letter it
                r = Record(f"ticks.{src}", -1, -1, None, b"")
            dead.append(DeadLetter(r.topic, r.partition, r.offset, reason, r.value))
        if self.partition_max:
            self.max_event_ts = max(self.partition_max.values())
        for d in dead:
            self.counts[d.reason] += 1
        cycles: list[CycleResult] = []
        slowest = self._slowest()
        wm = (slowest - self.lateness_ns) // NS_PER_MIN * NS_PER_MIN
        if slowest and wm > self.scorer.agg.watermark:
            cycles = self.on_watermark(wm) if self.on_watermark is not None else self.scorer.advance(wm)
        return cycles, dead

    def reassigned(self) -> None:
        """The owned partitions changed: the ones that have not reported get their grace period again."""
        self._started = None

    def _slowest(self) -> int:
        """Event time every live partition has reached (0 = not yet known)."""
        now = time.monotonic()
        live = set(self.partition_max) if self.expected is None else set(self.expected)
        waiting = [p for p in live if p not in self.partition_max]
        if waiting and (self._started is None or now - self._started < self.idle_partition_s):
            return 0  # an owned partition has not reported yet: its first ticks may be earlier than the others'
        # a partition silent for a while (no symbol of it trades) must not hold everyone back
        active = [
            self.partition_max[p]
            for p in live
            if p in self.partition_max and now - self._last_seen.get(p, now) < self.idle_partition_s
        ] or list(self.partition_max.values())
        return min(active) if active else 0

    def flush(self, watermark: int) -> list[CycleResult]:
        """End of stream (or of a replay): finalize everything up to ``watermark``."""
        return self.scorer.advance(watermark)

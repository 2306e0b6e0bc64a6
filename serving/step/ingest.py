"""Records in -> finalized bars at each watermark, or dead letters with topic, partition, offset, index and reason.

:class:`TickAssembler` is pure over its inputs (a list of records and its own state: the one bar aggregator, the
event time each partition has reached), so tests drive it with a list source; the Kafka loop feeds it polled
batches. A record is a batch of ticks (:mod:`serving.feed.tick_codec`); it is decoded and screened without a loop over
its ticks. Nothing is dropped silently: a record that cannot be read is dead-lettered whole; inside a good one each
tick with a null, a non-finite number, an empty or unknown symbol, a far-future time, a non-positive price or size,
a crossed quote, a repeat, or a time behind the watermark is dead-lettered alone, with its index in the record,
and the rest of the record lands. A counter per reason counts them.

The watermark follows the slowest partition's event time minus the allowed lateness, floored to the minute; each
time it advances, :meth:`TickAssembler.process` returns ``(watermark, bars)`` for the minutes it closed.
"""

import base64
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marketdata.aggregate import BarAggregator
from marketdata.fold import REASONS
from marketdata.schemas import NS_PER_MIN
from serving.feed import tick_codec

KINDS = {
    "ticks.trades": "trades",
    "ticks.quotes": "quotes",
    "ticks.status": "status",
    "reference.actions": "actions",
    "reference.vix": "vix",
}
UPDATES = ("actions", "vix")  # inputs for the feature engine itself, handed to the scorer between cycles
CLOCKS = ("trades", "quotes")  # the kinds whose partitions set the event-time watermark


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    # the feed's word that every tick of this partition before this event time (ns) has been sent (0: none); a
    # quiet partition's adapter sends it with an empty batch, so the minute it has nothing for is not held back
    through: int = 0


@dataclass
class DeadLetter:
    """A refused record (``index`` None) or one refused tick of it (``index`` its place, ``tick`` its values)."""

    topic: str
    partition: int
    offset: int
    reason: str
    value: bytes = b""
    index: int | None = None
    tick: dict | None = None

    def to_json(self) -> bytes:
        body = {"topic": self.topic, "partition": self.partition, "offset": self.offset, "reason": self.reason}
        if self.index is None:
            body["value_b64"] = base64.b64encode(self.value).decode()
        else:
            body.update({"index": self.index, "tick": self.tick})
        return json.dumps(body, default=str).encode()  # a date (an action's ex-date) as ISO text


@dataclass(frozen=True)
class Closed:
    """Minutes a watermark closed: every bar stamped at or before it, and what finalizing cost."""

    watermark: int
    bars: pa.Table
    finalize_ms: float = 0.0


@dataclass
class Update:
    """Rows of an input beyond ticks (``actions``, ``vix``), with where each came from (to dead-letter a refusal)."""

    kind: str
    rows: pa.Table
    origin: list[tuple[Record, int, dict]]  # per row: its record, its index there, its values

    def dead(self, i: int, reason: str) -> DeadLetter:
        r, index, tick = self.origin[i]
        return DeadLetter(r.topic, r.partition, r.offset, reason, index=index, tick=tick)


@dataclass
class TickAssembler:
    universe: set[str] | None = None
    lateness_ns: int = 2_000_000_000
    max_future_ns: int = 3600 * 1_000_000_000  # ahead of the wall clock by more than this = far future
    clock: Callable[[], int] = time.time_ns
    kinds: dict[str, str] = field(default_factory=lambda: dict(KINDS))
    agg: BarAggregator = field(default_factory=BarAggregator)
    counts: Counter = field(default_factory=Counter)
    # event time per source partition: the watermark follows the slowest one, so a partition that runs ahead
    # never makes another partition's on-time ticks late
    partition_max: dict[tuple[str, int], int] = field(default_factory=dict)
    # partitions this process owns (set by the Kafka loop); until each has reported, the watermark waits
    expected: set[tuple[str, int]] | None = None
    idle_partition_s: float = 5.0
    ticks: int = 0  # ticks accepted
    # when the first record arrived since the partitions were (re)assigned: an owned partition that has not
    # reported holds the watermark back for ``idle_partition_s`` from then (not from start-up: joining a group
    # can take longer than that, and then the first poll's partitions would make the others' ticks late)
    _started: float | None = None
    _universe: pa.Array | None = None
    _silent: dict[tuple[str, int], float] = field(default_factory=dict)  # seconds others delivered without it
    _last_poll: float | None = None
    updates: list[Update] = field(default_factory=list)  # taken by the loop (take_updates) before its cycles

    def __post_init__(self) -> None:
        if self.universe is not None:
            self._universe = pa.array(sorted(self.universe), pa.string())

    def process(self, records: list[Record]) -> tuple[list[Closed], list[DeadLetter]]:
        """Decode, screen and fold a batch of records, then advance the watermark: the minutes it closed and the
        dead letters."""
        self._count_silence(records)
        dead: list[DeadLetter] = []
        if records and self._started is None:
            self._started = time.monotonic()
        parts: dict[str, list[tuple[Record, pa.RecordBatch]]] = {
            k: [] for k in ("trades", "quotes", "status", *UPDATES)
        }
        for r in records:
            kind = self.kinds.get(r.topic)
            if kind is None:
                dead.append(DeadLetter(r.topic, r.partition, r.offset, f"unknown topic {r.topic!r}", r.value))
                continue
            try:
                parts[kind].append((r, tick_codec.read(kind, r.value)))
            except tick_codec.BadPayload as e:
                dead.append(DeadLetter(r.topic, r.partition, r.offset, str(e), r.value))
        for kind, items in parts.items():
            if items:
                dead += self._fold(kind, items)
        for r in records:
            if r.through and self.kinds.get(r.topic) in CLOCKS:
                pk = (r.topic, r.partition)
                self.partition_max[pk] = max(self.partition_max.get(pk, 0), r.through)
        for d in dead:
            self.counts[d.reason] += 1
        return self._advance(), dead

    def _fold(self, kind: str, items: list[tuple[Record, pa.RecordBatch]]) -> list[DeadLetter]:
        """Screen and fold one kind's ticks of a poll, in arrival order; the dead letters of its refused ticks."""
        d = tick_codec.columns(kind, [b for _, b in items])
        sizes = np.array([b.num_rows for _, b in items], np.int64)
        if kind in UPDATES:
            return self._update(kind, d, items, sizes)
        cols, ok, refused = d.cols, d.ok, d.why  # refused: position in the poll -> reason (rare)

        def refuse(mask: np.ndarray, reason: str) -> None:
            for i in np.flatnonzero(mask & ok):
                refused[int(i)] = reason
            ok[mask] = False

        if self._universe is not None:
            refuse(~np.asarray(pc.is_in(d.symbols, value_set=self._universe)), "unknown symbol")
        refuse(cols["ts"] > self.clock() + self.max_future_ns, "far-future timestamp")
        at = np.flatnonzero(ok)
        every = len(at) == len(ok)
        codes = self.agg.codes(d.symbols if every else d.symbols.take(at))
        if kind == "status":  # halts begin and end: they hold no watermark back and close no minute themselves
            self.agg.add_status(codes, cols["ts"][at], cols["halted"][at])
            return self._dead(d, items, sizes)
        verdict = self.agg.fold(kind, codes, cols if every else {k: v[at] for k, v in cols.items()})
        for i in np.flatnonzero(verdict):
            refused[int(at[i])] = REASONS[verdict[i]]
        kept = at[verdict == 0]
        self.ticks += len(kept)
        # the event time each source partition reached, from its kept ticks
        pks = [(r.topic, r.partition) for r, _ in items]
        which = {pk: i for i, pk in enumerate(dict.fromkeys(pks))}
        tick_pk = np.repeat(np.array([which[pk] for pk in pks], np.int64), sizes)[kept]
        top = np.full(len(which), -1, np.int64)
        np.maximum.at(top, tick_pk, cols["ts"][kept])
        for pk, i in which.items():
            if top[i] >= 0 and kind in CLOCKS:
                self.partition_max[pk] = max(self.partition_max.get(pk, 0), int(top[i]))
        return self._dead(d, items, sizes)

    def _update(self, kind: str, d: tick_codec.Decoded, items: list, sizes: np.ndarray) -> list[DeadLetter]:
        """Rows of an engine input that decode: kept for the scorer (which may still refuse one, e.g. too late)."""
        if kind == "actions" and self._universe is not None:
            d.refuse(~np.asarray(pa.compute.is_in(d.symbols, value_set=self._universe)), "unknown symbol")
        at = np.flatnonzero(d.ok)
        if len(at):
            table = pa.Table.from_batches([b for _, b in items], schema=tick_codec.WIRE[kind]).take(at)
            starts = np.r_[0, np.cumsum(sizes)[:-1]]
            msg = np.repeat(np.arange(len(items)), sizes)
            origin = [(items[msg[i]][0], int(i - starts[msg[i]]), d.tick(int(i))) for i in at]
            self.updates.append(Update(kind, table, origin))
        return self._dead(d, items, sizes)

    def take_updates(self) -> list[Update]:
        out, self.updates = self.updates, []
        return out

    @staticmethod
    def _dead(d: tick_codec.Decoded, items: list, sizes: np.ndarray) -> list[DeadLetter]:
        if not d.why:
            return []
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
        msg = np.repeat(np.arange(len(items)), sizes)
        dead = []
        for pos, reason in sorted(d.why.items()):
            m = int(msg[pos])
            r = items[m][0]
            dead.append(
                DeadLetter(r.topic, r.partition, r.offset, reason, index=pos - int(starts[m]), tick=d.tick(pos))
            )
        return dead

    def _advance(self) -> list[Closed]:
        slowest = self._slowest()
        wm = (slowest - self.lateness_ns) // NS_PER_MIN * NS_PER_MIN
        return self.flush(wm) if slowest else []

    def assign(self, partitions: set[tuple[str, int]]) -> None:
        """The partitions this process owns now (a source's rebalance listener says): the ones that have not
        reported get their grace period again."""
        self.expected = set(partitions)
        self._started = None

    def _count_silence(self, records: list[Record]) -> None:
        """A partition is idle once the others have delivered for ``idle_partition_s`` without it. Time counts only
        while some partition delivers (at most 0.2 s a poll): when nothing arrives at all (the broker restarting,
        the feed stalled) no partition grows idle, so the first to come back cannot make the others' backlog
        late."""
        now = time.monotonic()
        step = min(now - self._last_poll, 0.2) if self._last_poll is not None else 0.0
        self._last_poll = now
        if not records:
            return
        seen = {(r.topic, r.partition) for r in records}
        for pk in set(self.partition_max) | self._expected():
            self._silent[pk] = 0.0 if pk in seen else self._silent.get(pk, 0.0) + step

    def _expected(self) -> set[tuple[str, int]]:
        """The owned partitions that set the watermark: the tick topics' (a status, action or VIX topic is quiet
        most of the time, and a halt's partition must not hold the minute back while it is)."""
        return {pk for pk in self.expected or () if self.kinds.get(pk[0]) in CLOCKS}

    def _slowest(self) -> int:
        """Event time every live partition has reached (0 = not yet known)."""
        now = time.monotonic()
        live = set(self.partition_max) if self.expected is None else self._expected()
        waiting = [p for p in live if p not in self.partition_max]
        if waiting and (self._started is None or now - self._started < self.idle_partition_s):
            return 0  # an owned partition has not reported yet: its first ticks may be earlier than the others'
        # a partition that stays silent while the others deliver (no symbol of it trades) must not hold them back
        active = [
            self.partition_max[p]
            for p in live
            if p in self.partition_max and self._silent.get(p, 0.0) < self.idle_partition_s
        ] or list(self.partition_max.values())
        return min(active) if active else 0

    def flush(self, watermark: int) -> list[Closed]:
        """Close every minute up to ``watermark`` (the event-time watermark, or a source's own word that a minute
        is complete: a replay's minute end, the end of a stream)."""
        if watermark <= self.agg.watermark:
            return []
        t = time.perf_counter()
        bars = self.agg.finalize(watermark)
        return [Closed(watermark, bars, (time.perf_counter() - t) * 1e3)]

    def compact(self) -> None:
        """Between cycles: forget what finalized minutes no longer need (repeat keys)."""
        self.agg.compact()

    # ---- state -----------------------------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        """Copies of the aggregator's arrays and the watermark's bookkeeping, for a checkpoint."""
        arrays = {k: np.array(v, copy=True) for k, v in self.agg.state_arrays().items()}
        meta = {
            "names": list(self.agg._names),
            "watermark": int(self.agg.watermark),
            "partition_max": [[t, p, v] for (t, p), v in self.partition_max.items()],
        }
        return arrays, meta

    def restore(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        self.agg = BarAggregator.from_state(meta["names"], meta["watermark"], arrays)
        self.partition_max = {(t, int(p)): int(v) for t, p, v in meta["partition_max"]}

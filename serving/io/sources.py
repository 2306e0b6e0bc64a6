"""Where records come from: one interface (STYLE pattern 1), five implementations.

* :class:`KafkaTickSource`: the tick topics through a consumer group (production, one process);
* :class:`KafkaBarsSource`: the Flink job's bars topic through a consumer group (production beyond one process:
  the ticks -> bars stage runs on Flink, decision 036);
* :class:`LakeTickSource`: a lake day replayed as the same records, each minute closed by the source itself
  (the embedded default, ``serve --mode inprocess``);
* :class:`LakeBarsSource`: a lake day's bars, minute by minute (a lake of vendor bars, without ticks);
* :class:`ListSource`: records given up front (tests).

A source says where it is (:meth:`Source.position`, topic:partition -> next offset) and goes back there
(:meth:`Source.seek`), which is all a checkpoint needs of it.
"""

import datetime as dt
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from marketdata.lake import Lake
from marketdata.schemas import BARS_1M, NS_PER_MIN
from serving.feed import tick_codec
from serving.flink import read_bar_batch
from serving.io import kafka_io
from serving.step.ingest import Closed, Record

log = logging.getLogger(__name__)


@dataclass
class Poll:
    """Records in arrival order; ``watermark``: the source's own word that every minute up to it is complete;
    ``closed``: minutes a bars source delivers already finalized (no ticks to assemble)."""

    records: list[Record] = field(default_factory=list)
    watermark: int | None = None
    closed: list[Closed] = field(default_factory=list)


class Source(ABC):
    exhausted: bool = False  # a bounded source (a replay) that has nothing more

    @abstractmethod
    def poll(self, timeout_ms: int) -> Poll: ...

    @abstractmethod
    def position(self) -> dict[str, int]:
        """topic:partition -> the next offset to read, for everything polled so far."""

    @abstractmethod
    def seek(self, position: dict[str, int]) -> None: ...

    def commit(self, position: dict[str, int]) -> None:
        """The position a durable checkpoint covers (Kafka: the group's committed offsets, for lag monitoring)."""
        return None

    def close(self) -> None:
        return None


class ListSource(Source):
    """Polls of given records, ``per_poll`` at a time; a poll's watermark is given with it if any."""

    def __init__(self, polls: list[Poll]):
        self.polls, self.at = polls, 0
        self._pos: dict[str, int] = {}

    def poll(self, timeout_ms: int) -> Poll:
        if self.at >= len(self.polls):
            self.exhausted = True
            return Poll()
        p = self.polls[self.at]
        self.at += 1
        for r in p.records:
            k = f"{r.topic}:{r.partition}"
            self._pos[k] = max(self._pos.get(k, 0), r.offset + 1)
        return p

    def position(self) -> dict[str, int]:
        return dict(self._pos)

    def seek(self, position: dict[str, int]) -> None:
        """Skip every record before ``position`` (the polls are replayed from the start)."""
        self.at = 0
        keep = []
        for p in self.polls:
            rs = [r for r in p.records if r.offset >= position.get(f"{r.topic}:{r.partition}", 0)]
            keep.append(Poll(rs, p.watermark))
        self.polls, self._pos = keep, dict(position)


class LakeTickSource(ListSource):
    """A lake day's trades, quotes and halts as the records a feed would send, minute by minute: each minute's
    ticks in time order, one record per kind and partition (``partitions`` as on the tick topics), then the
    minute's end as the poll's watermark (a replay is complete: nothing is waited for)."""

    def __init__(self, lake: Lake, day: dt.date, partitions: int = 1, topics: dict[str, str] | None = None):
        topics = topics or {"trades": "ticks.trades", "quotes": "ticks.quotes", "status": "ticks.status"}
        tables = {k: lake.read(k, [day]) for k in ("trades", "quotes", "halts") if _has(lake, k, day)}
        if "trades" not in tables and "quotes" not in tables:
            raise FileNotFoundError(f"no trades or quotes for {day} in {lake.root}")
        offsets: dict[str, int] = {}
        polls: list[Poll] = []
        if "halts" in tables:  # the day's halts, up front (as the batch path knows them): halted, then resumed
            status = tick_codec.encode("status", tick_codec.halts_to_status(tables["halts"]))
            polls.append(Poll([_record(topics["status"], 0, offsets, status)]))
        sorted_ = {k: t.sort_by("ts") for k, t in tables.items() if k != "halts"}
        ns = {k: t.column("ts").cast(pa.int64()).to_numpy() for k, t in sorted_.items()}
        lo = min(int(v.min()) for v in ns.values() if len(v)) // NS_PER_MIN * NS_PER_MIN
        hi = (max(int(v.max()) for v in ns.values() if len(v)) // NS_PER_MIN + 1) * NS_PER_MIN
        edges = np.arange(lo, hi + 1, NS_PER_MIN)
        cuts = {k: np.searchsorted(v, edges) for k, v in ns.items()}
        parts = {k: kafka_io.partitions_of_rows(t.column("symbol"), partitions) for k, t in sorted_.items()}
        for m in range(len(edges) - 1):
            recs = []
            for kind, t in sorted_.items():
                a, b = int(cuts[kind][m]), int(cuts[kind][m + 1])
                if a == b:
                    continue
                chunk, part = t.slice(a, b - a), parts[kind][a:b]
                for p in np.unique(part):
                    mine = chunk.filter(pa.array(part == p))
                    recs.append(_record(topics[kind], int(p), offsets, tick_codec.encode(kind, mine)))
            polls.append(Poll(recs, int(edges[m + 1])))
        super().__init__(polls)


class LakeBarsSource(Source):
    """A lake day's ``bars_1m`` minute by minute, already closed (a lake of vendor bars, without ticks); its
    position counts the minutes delivered."""

    def __init__(self, lake: Lake, day: dt.date):
        bars = lake.read("bars_1m", [day])
        ts = bars.column("ts").cast(pa.int64()).to_numpy()
        self.minutes = [Closed(int(m), bars.filter(pa.array(ts == m))) for m in np.unique(ts)]
        self.at = 0

    def poll(self, timeout_ms: int) -> Poll:
        if self.at >= len(self.minutes):
            self.exhausted = True
            return Poll()
        self.at += 1
        return Poll(closed=[self.minutes[self.at - 1]])

    def position(self) -> dict[str, int]:
        return {"bars_1m:0": self.at}

    def seek(self, position: dict[str, int]) -> None:
        self.at = position.get("bars_1m:0", 0)


def _has(lake: Lake, kind: str, day: dt.date) -> bool:
    return lake.exists(kind) and day in lake.dates(kind)


def _record(topic: str, partition: int, offsets: dict[str, int], value: bytes) -> Record:
    k = f"{topic}:{partition}"
    off = offsets.get(k, 0)
    offsets[k] = off + 1
    return Record(topic, partition, off, None, value)


class _GroupSource(Source):
    """Topics read through consumer group ``group``. ``on_assign`` hears the partitions this process owns after
    each rebalance, before they are sought to the checkpoint's position; ``on_revoke`` hears that it is about to
    lose them (a standby takes over). Subclasses turn polled messages into a :class:`Poll`."""

    def __init__(
        self,
        bootstrap: str,
        group: str,
        topics: tuple[str, ...],
        on_assign: Callable[[set[tuple[str, int]], set[tuple[str, int]]], None] | None = None,
        on_revoke: Callable[[], None] | None = None,
        partitions: int = 4,
        **consumer_kw: object,
    ):
        from kafka import ConsumerRebalanceListener

        self.topics = topics
        self._on_assign = on_assign or (lambda mine, every: None)
        self._on_revoke = on_revoke or (lambda: None)
        self.last_timestamp_ms = 0
        self._pos: dict[str, int] = {}
        kafka_io.ensure_topics(bootstrap, list(topics), partitions=partitions)
        # a scorer that dies gives its partitions up after 10 s, not the client's default 45
        self.consumer = kafka_io.consumer(
            bootstrap, group=group, session_timeout_ms=10_000, heartbeat_interval_ms=2_000, **consumer_kw
        )
        source = self

        class _Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):  # type: ignore[no-untyped-def]
                if revoked:
                    source._on_revoke()

            def on_partitions_assigned(self, assigned):  # type: ignore[no-untyped-def]
                source._assigned(assigned)

        self.consumer.subscribe(list(topics), listener=_Listener())

    def _assigned(self, assigned) -> None:  # type: ignore[no-untyped-def]
        mine = {(tp.topic, tp.partition) for tp in assigned}
        every = {(t, p) for t in self.topics for p in (self.consumer.partitions_for_topic(t) or ())}
        self._on_assign(mine, every)  # may restore a checkpoint, which seeks this source
        for tp in assigned:  # where this process is (a rebalance: the group's commit may be behind it)
            off = self._pos.get(f"{tp.topic}:{tp.partition}")
            if off is not None:
                self.consumer.seek(tp, off)

    def _messages(self, timeout_ms: int) -> list:
        batch = self.consumer.poll(timeout_ms=timeout_ms)
        msgs = [m for ms in batch.values() for m in ms]
        if msgs:
            self.last_timestamp_ms = max(m.timestamp for m in msgs)  # producer CreateTime: how far behind we read
        for m in msgs:
            k = f"{m.topic}:{m.partition}"
            self._pos[k] = max(self._pos.get(k, 0), m.offset + 1)
        return msgs

    def position(self) -> dict[str, int]:
        return dict(self._pos)

    def seek(self, position: dict[str, int]) -> None:
        """Where to read each partition from when it is assigned (the checkpoint's offsets), or at once if it is."""
        from kafka import TopicPartition

        self._pos.update(position)
        owned = self.consumer.assignment()
        for k, off in position.items():
            topic, part = k.rsplit(":", 1)
            if TopicPartition(topic, int(part)) in owned:
                self.consumer.seek(TopicPartition(topic, int(part)), off)

    def commit(self, position: dict[str, int]) -> None:
        from kafka import TopicPartition
        from kafka.structs import OffsetAndMetadata

        owned = self.consumer.assignment()
        offsets = {}
        for k, v in position.items():
            topic, part = k.rsplit(":", 1)
            tp = TopicPartition(topic, int(part))
            if tp in owned:
                offsets[tp] = OffsetAndMetadata(v, "", -1)
        if offsets:
            self.consumer.commit_async(offsets)

    def close(self) -> None:
        self.consumer.close()


class KafkaTickSource(_GroupSource):
    """The tick topics through consumer group ``group``; the watermark waits for each partition it owns."""

    def __init__(
        self,
        bootstrap: str,
        group: str,
        topics: tuple[str, ...],
        on_assign: Callable[[set[tuple[str, int]], set[tuple[str, int]]], None] | None = None,
        on_revoke: Callable[[], None] | None = None,
        max_poll_records: int = 2_000,
    ):
        super().__init__(bootstrap, group, topics, on_assign, on_revoke, max_poll_records=max_poll_records)

    def poll(self, timeout_ms: int) -> Poll:
        return Poll(
            [
                Record(m.topic, m.partition, m.offset, m.key, m.value, kafka_io.through_of(m.headers))
                for m in self._messages(timeout_ms)
            ]
        )


class KafkaBarsSource(_GroupSource):
    """The Flink job's bars topic (decision 036), ``read_committed``, through consumer group ``group``.

    Each message is one subtask's bars of one minute, with headers saying the minute, that subtask's watermark,
    the subtask and how many there are. Minute m is handed on, closed, once every subtask of the job's current
    parallelism has reported a watermark at or past it (:func:`serving.flink_cluster.complete_through`): the
    whole cross-section of m is then on the topic, and the scorer scores it once. The position a checkpoint keeps
    is, per partition, the first message whose minute is not handed on yet, so a restart reads again what the
    checkpoint's state does not hold."""

    def __init__(
        self,
        bootstrap: str,
        group: str,
        topic: str,
        on_assign: Callable[[set[tuple[str, int]], set[tuple[str, int]]], None] | None = None,
        on_revoke: Callable[[], None] | None = None,
    ):
        # one partition, so one member of the group owns the whole cross-section (the others stand by)
        super().__init__(
            bootstrap, group, (topic,), on_assign, on_revoke, partitions=1, isolation_level="read_committed",
            max_poll_records=500,
        )  # fmt: skip
        self.pending: dict[int, list[pa.Table]] = {}  # minute -> its bars read so far
        self.first: dict[str, list[tuple[int, int]]] = {}  # partition -> (offset, minute) of pending messages
        self.reached: dict[tuple[int, int], int] = {}  # (subtasks, subtask) -> its watermark
        self.handed = 0  # every minute up to this one is handed on
        self.late = 0  # bars of a minute already handed on (never expected: counted and logged)

    def poll(self, timeout_ms: int) -> Poll:
        msgs = self._messages(timeout_ms)
        if not msgs:
            return Poll()
        for m in msgs:
            head = {k: int(v) for k, v in m.headers}
            minute, n = head["minute"], head["bars"]
            key = (head["subtasks"], head["subtask"])
            self.reached[key] = max(self.reached.get(key, head["watermark"]), head["watermark"])
            if n == 0:
                continue
            if minute <= self.handed:
                self.late += n
                log.error("%d bars of minute %d arrived after it was scored (%s:%d@%d)", n, minute, m.topic,
                          m.partition, m.offset)  # fmt: skip
                continue
            self.pending.setdefault(minute, []).append(read_bar_batch(m.value))
            self.first.setdefault(f"{m.topic}:{m.partition}", []).append((m.offset, minute))
        through = self.complete_through()
        if through is None or through <= self.handed:
            return Poll()
        done = sorted(m for m in self.pending if m <= through)
        bars = pa.concat_tables([t for m in done for t in self.pending.pop(m)]) if done else None
        self.handed = through
        self.first = {k: [(o, m) for o, m in v if m > through] for k, v in self.first.items()}
        return Poll(closed=[Closed(through, bars if bars is not None else BARS_1M.empty_table())])

    def complete_through(self) -> int | None:
        """The latest minute every subtask of the newest parallelism has closed, None before all reported."""
        if not self.reached:
            return None
        k = max(self.reached.items(), key=lambda kv: kv[1])[0][0]
        mine = [w for (n, _), w in self.reached.items() if n == k]
        return min(mine) if len(mine) == k else None

    def position(self) -> dict[str, int]:
        out = dict(self._pos)
        for k, v in self.first.items():
            if v:
                out[k] = min(o for o, _ in v)
        return out

    def seek(self, position: dict[str, int]) -> None:
        """Read again from ``position``: what was read past it is forgotten (it comes again, with batches of
        minutes the checkpoint's state holds already, which the scorer skips)."""
        super().seek(position)
        self.pending, self.first, self.reached = {}, {}, {}
        self.handed = 0

"""Where records come from: one interface (STYLE pattern 1), five implementations.

* :class:`~serving.io.kafka_sources.KafkaTickSource`: the tick topics through a consumer group (production, one
  process);
* :class:`~serving.io.kafka_sources.KafkaBarsSource`: the Flink job's bars topic through a consumer group
  (production beyond one process: the ticks -> bars stage runs on Flink, decision 036);
* :class:`LakeTickSource`: a lake day replayed as the same records, each minute closed by the source itself
  (the embedded default, ``serve --mode inprocess``);
* :class:`LakeBarsSource`: a lake day's bars, minute by minute (a lake of vendor bars, without ticks);
* :class:`ListSource`: records given up front (tests).

A source says where it is (:meth:`Source.position`, topic:partition -> next offset) and goes back there
(:meth:`Source.seek`), which is all a checkpoint needs of it.
"""

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from marketdata.lake import Lake
from marketdata.schemas import NS_PER_MIN
from serving.feed import tick_codec
from serving.io import kafka_io
from serving.step.ingest import Closed, Record


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

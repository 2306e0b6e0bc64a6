"""The Kafka sources (:mod:`serving.io.sources` has the interface): the tick topics, and the Flink job's bars topic,
each through a consumer group whose rebalances the scorer hears (a standby taking over restores the newest
checkpoint).
"""

import logging
from collections.abc import Callable

import pyarrow as pa

from marketdata.schemas import BARS_1M
from serving.flink import read_bar_batch
from serving.io import kafka_io
from serving.io.sources import Poll, Source
from serving.step.ingest import Closed, Record

log = logging.getLogger(__name__)
# hears (partitions this process owns, every partition of its topics) after each rebalance
OnAssign = Callable[[set[tuple[str, int]], set[tuple[str, int]]], None]


class _GroupSource(Source):
    """Topics read through consumer group ``group``. ``on_assign`` hears the partitions this process owns after
    each rebalance, before they are sought to the checkpoint's position; ``on_revoke`` hears that it is about to
    lose them (a standby takes over). Subclasses turn polled messages into a :class:`Poll`."""

    MAX_POLL_RECORDS = 500  # messages a poll returns at most

    def __init__(
        self,
        bootstrap: str,
        group: str,
        topics: tuple[str, ...],
        on_assign: OnAssign | None = None,
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
        consumer_kw.setdefault("max_poll_records", self.MAX_POLL_RECORDS)
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
    """The tick topics through consumer group ``group`` (up to 2,000 messages a poll); the watermark waits for each
    partition it owns."""

    MAX_POLL_RECORDS = 2_000

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
        on_assign: OnAssign | None = None,
        on_revoke: Callable[[], None] | None = None,
    ):
        # one partition, so one member of the group owns the whole cross-section (the others stand by)
        super().__init__(
            bootstrap, group, (topic,), on_assign, on_revoke, partitions=1, isolation_level="read_committed",
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

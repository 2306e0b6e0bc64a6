"""The Kafka loop around the pure step: poll, process, dead-letter, commit offsets with a state checkpoint.

On (re)assignment the process restores the checkpoint stored in Redis (or the in-process store) and seeks to its
offsets, so a restart replays to the same signals.

One scoring process per group: the features include cross-sectional ones (the rank of the 5-bar return, the
leaders' returns), so a process that owns only some of the symbol-keyed partitions would compute different
features, and the checkpoint key is per group. A process assigned a strict subset of the partitions logs an
error saying so. Scale-out (partitioned ingest feeding one cross-section) is not built yet (issue 5's note).
"""

import logging
import time
from collections.abc import Callable

from kafka import ConsumerRebalanceListener, TopicPartition

from serving import checkpoint, kafka_io
from serving.gc_tuning import between_cycles, freeze_heap
from serving.ingest import Record, RecordProcessor
from serving.scorer import CycleResult

log = logging.getLogger(__name__)
TOPICS = ("ticks.trades", "ticks.quotes")


class CheckpointStore:
    """Checkpoints in Redis under ``tw:ckpt:<group>`` (or in memory when no Redis URL is given)."""

    def __init__(self, group: str, redis_url: str | None = None):
        self.key = f"tw:ckpt:{group}"
        self._mem: dict[str, bytes] = {}
        self.r = None
        if redis_url:
            import redis

            self.r = redis.Redis.from_url(redis_url)

    def save(self, blob: bytes) -> None:
        if self.r is not None:
            self.r.set(self.key, blob)
        else:
            self._mem[self.key] = blob

    def load(self) -> bytes | None:
        return self.r.get(self.key) if self.r is not None else self._mem.get(self.key)  # type: ignore[return-value]


class _Seek(ConsumerRebalanceListener):
    def __init__(self, loop: "KafkaScorerLoop"):
        self.loop = loop

    def on_partitions_revoked(self, revoked):  # type: ignore[no-untyped-def]
        return None

    def on_partitions_assigned(self, assigned):  # type: ignore[no-untyped-def]
        self.loop.proc.expected = {(tp.topic, tp.partition) for tp in assigned}
        every = {(t, p) for t in self.loop.topics for p in (self.loop.consumer.partitions_for_topic(t) or ())}
        if self.loop.proc.expected != every:
            log.error(
                "this scorer owns %d of %d tick partitions: another member of the group holds the rest, so its "
                "cross-sectional features (rank, leaders) and the group's checkpoint are not those of one scorer",
                len(self.loop.proc.expected),
                len(every),
            )
        for tp in assigned:
            off = self.loop.offsets.get(f"{tp.topic}:{tp.partition}")
            if off is not None:
                self.loop.consumer.seek(tp, off)


class KafkaScorerLoop:
    def __init__(
        self,
        processor: RecordProcessor,
        bootstrap: str,
        group: str,
        ckpt: CheckpointStore,
        dlq_topic: str = "ticks.dlq",
        topics: tuple[str, ...] = TOPICS,
        on_cycle: Callable[[CycleResult], None] | None = None,
    ):
        self.proc, self.ckpt, self.dlq_topic, self.topics = processor, ckpt, dlq_topic, topics
        self.on_cycle = on_cycle or (lambda c: None)
        self.offsets: dict[str, int] = {}
        blob = ckpt.load()
        if blob:
            self.offsets = checkpoint.restore(processor.scorer, blob)
            log.info("restored checkpoint at minute %s", processor.scorer.last_minute)
        kafka_io.ensure_topics(bootstrap, [*topics, dlq_topic])
        self.consumer = kafka_io.consumer(bootstrap, group=group, max_poll_records=20_000)
        self.consumer.subscribe(list(topics), listener=_Seek(self))
        self.producer = kafka_io.producer(bootstrap)
        self.dead = 0
        freeze_heap()  # the scorer, model and state are built: keep full GC passes out of the cycles

    def poll_once(self, timeout_ms: int = 200) -> list[CycleResult]:
        batch = self.consumer.poll(timeout_ms=timeout_ms)
        records = [Record(m.topic, m.partition, m.offset, m.key, m.value) for msgs in batch.values() for m in msgs]
        if not records:
            return []
        cycles, dead = self.proc.process(records)
        for d in dead:
            self.producer.send(self.dlq_topic, key=f"{d.topic}:{d.partition}:{d.offset}".encode(), value=d.to_json())
        self.dead += len(dead)
        for r in records:
            self.offsets[f"{r.topic}:{r.partition}"] = max(
                self.offsets.get(f"{r.topic}:{r.partition}", 0), r.offset + 1
            )
        for c in cycles:
            self.on_cycle(c)
        self.producer.flush()
        self.proc.scorer.sink.flush()
        # state and offsets move together: a crash after this point resumes here, before it replays the batch
        self.ckpt.save(checkpoint.dumps(self.proc.scorer, self.offsets))
        owned = self.consumer.assignment()
        commits = {}
        for k, v in self.offsets.items():
            topic, part = k.rsplit(":", 1)
            tp = TopicPartition(topic, int(part))
            if tp in owned:
                commits[tp] = _meta(v)
        if commits:
            self.consumer.commit(commits)
        self.proc.scorer.idle()
        between_cycles()
        return cycles

    def run(self, idle_seconds: float | None = None, max_cycles: int | None = None) -> int:
        """Poll until idle for ``idle_seconds`` (None = forever) or ``max_cycles`` cycles ran."""
        n, idle_since, started = 0, time.monotonic(), time.monotonic()
        while True:
            before = sum(self.offsets.values())
            cycles = self.poll_once()
            n += len(cycles)
            if cycles or sum(self.offsets.values()) != before:
                idle_since = time.monotonic()
            elif not self.offsets and time.monotonic() - started < 60:
                idle_since = time.monotonic()  # still joining the group: idleness counts from the first records
            if max_cycles is not None and n >= max_cycles:
                return n
            if idle_seconds is not None and time.monotonic() - idle_since > idle_seconds:
                return n

    def close(self) -> None:
        self.consumer.close()
        self.producer.close()


def _meta(offset: int):  # type: ignore[no-untyped-def]
    from kafka.structs import OffsetAndMetadata

    return OffsetAndMetadata(offset, "", -1)

"""The Kafka loop around the pure step: poll, process, dead-letter, commit offsets with a state checkpoint.

On (re)assignment the process restores the checkpoint stored in Redis (or the in-process store) and seeks to its
offsets, so a restart replays to the same signals.

The features include cross-sectional ones (the rank of the 5-bar return, the leaders' returns), so a process that
owns only some of the symbol-keyed partitions must not score them alone: several processes in one group run with a
:class:`serving.scaleout.BarExchange` (scale-out), which assembles the whole cross-section for each of them. Without
one, a process assigned a strict subset of the partitions logs an error saying so.
"""

import logging
import time
from collections.abc import Callable

from kafka import ConsumerRebalanceListener, TopicPartition

from features.engine import StateMismatch
from marketdata.schemas import BARS_1M
from serving import checkpoint, kafka_io
from serving.gc_tuning import between_cycles, freeze_heap
from serving.ingest import Record, RecordProcessor
from serving.scaleout import BarExchange
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
        self.loop.proc.reassigned()
        every = {(t, p) for t in self.loop.topics for p in (self.loop.consumer.partitions_for_topic(t) or ())}
        if self.loop.exchange is not None:
            self.loop.exchange.every = every
        elif self.loop.proc.expected != every:
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
        exchange: BarExchange | None = None,
    ):
        self.proc, self.ckpt, self.dlq_topic, self.topics = processor, ckpt, dlq_topic, topics
        self.on_cycle = on_cycle or (lambda c: None)
        self.offsets: dict[str, int] = {}
        self.exchange, self._assembled = exchange, 0
        if exchange is not None:  # scale-out: publish finalized bars, score the assembled cross-section
            processor.on_watermark = self._publish
            processor.scorer.serves = exchange.serves
        blob = ckpt.load() if exchange is None else None  # a member's restart is not exact (serving.scaleout)
        if blob:
            try:
                self.offsets = checkpoint.restore(processor.scorer, blob)
            except StateMismatch as e:  # a tickwise upgrade changed a definition: say which state, and the way out
                raise StateMismatch(
                    f"checkpoint {ckpt.key}: {e}; or delete that key to start from the lake's state"
                ) from None
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
        cycles, dead = self.proc.process(records) if records else ([], [])
        if self.exchange is not None:
            cycles += self._assemble()
        if not records and not cycles:
            return []
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
        if self.exchange is None:
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

    # ---- scale-out -----------------------------------------------------------------------------------------
    def _publish(self, watermark: int) -> list[CycleResult]:
        """This member's watermark advanced: its finalized bars go to the exchange (scored once assembled)."""
        assert self.exchange is not None
        self.exchange.publish(watermark, self.proc.scorer.agg.finalize(watermark), self.proc.expected or set())
        return []

    def _assemble(self, timeout_ms: int = 0) -> list[CycleResult]:
        """Score the minutes every tick partition has been published past."""
        assert self.exchange is not None
        wm = self.exchange.poll(timeout_ms)
        if wm <= self._assembled:
            return []
        self._assembled = wm
        bars = self.exchange.take(wm)
        return self.proc.scorer.advance(wm, bars if bars is not None else BARS_1M.empty_table())

    def end_of_stream(self, watermark: int) -> None:
        """Scale-out: publish this member's last bars, up to ``watermark``, without waiting for the others."""
        if self.exchange is not None and watermark > self.proc.scorer.agg.watermark:
            self._publish(watermark)

    def finish(self, watermark: int, timeout_s: float = 30.0) -> list[CycleResult]:
        """End of the stream: finalize up to ``watermark`` and score it. In scale-out every member calls
        :meth:`end_of_stream` first, then this (it waits for the others' last bars, up to ``timeout_s``)."""
        if self.exchange is None:
            return self.proc.scorer.advance(watermark)
        self.end_of_stream(watermark)
        cycles: list[CycleResult] = []
        deadline = time.monotonic() + timeout_s
        while self._assembled < watermark and time.monotonic() < deadline:
            cycles += self._assemble(timeout_ms=200)
        if self._assembled < watermark:
            raise TimeoutError(f"scale-out: the other members' bars up to {watermark} did not arrive in {timeout_s} s")
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
        if self.exchange is not None:
            self.exchange.close()


def _meta(offset: int):  # type: ignore[no-untyped-def]
    from kafka.structs import OffsetAndMetadata

    return OffsetAndMetadata(offset, "", -1)

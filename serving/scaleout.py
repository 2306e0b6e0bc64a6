"""Scale-out: several scorer processes in one consumer group, serving one cross-section.

The features are partly cross-sectional (the rank of the 5-bar return, the leaders' returns), so a process that
scored only the symbols of its own tick partitions would serve different features than one scorer. Instead:

1. each member aggregates the tick partitions Kafka assigns it (the same aggregator as ever) and, whenever its
   watermark advances, publishes the bars it finalized — with that watermark and the partitions it covers — to a
   one-partition topic (``bars.1m``, Arrow IPC);
2. every member reads that whole topic; a minute is complete once every tick partition has been covered past it,
   so every member assembles the same bars and steps the same feature engine over the whole cross-section;
3. each member serves (Redis, the signals topic, ``/signals``) only the symbols whose bars it published itself.

Together the members serve every signal once, and each equals what one scorer would serve
(``tests/integration/test_scorer_kafka.py``). Not built: a rebalance in the middle of a run (the aggregator's
partial bars of a partition do not move with it) and an exact restart of a member (its checkpoint does not cover
the assembled bars): members must join before the ticks flow, and a restart replays from its checkpoint alone.
"""

import json
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from kafka import TopicPartition

from serving import kafka_io
from serving.sinks import from_ipc, to_ipc

BARS_TOPIC = "bars.1m"


class BarExchange:
    """One member's side of the bars topic: publish what it finalized, assemble everybody's."""

    def __init__(self, bootstrap: str, topic: str = BARS_TOPIC):
        kafka_io.ensure_topics(bootstrap, [topic], partitions=1)  # one partition: one order for every reader
        self.topic = topic
        self.member = uuid.uuid4().hex[:12]
        self.producer = kafka_io.signal_producer(bootstrap)
        self.consumer = kafka_io.consumer(bootstrap, group=None)
        self.consumer.assign([TopicPartition(topic, 0)])
        self.every: set[tuple[str, int]] = set()  # every tick partition (set by the loop from its topics)
        self.cover: dict[tuple[str, int], int] = {}  # how far each tick partition's bars have been published
        self.pending: list[pa.Table] = []  # published bars not yet handed to the scorer
        self.own: set[str] = set()  # the symbols this member serves: those whose bars it published

    def publish(self, watermark: int, bars: pa.Table, partitions: set[tuple[str, int]]) -> None:
        """This member's bars finalized up to ``watermark`` for ``partitions`` (an empty table still counts)."""
        self.own.update(bars.column("symbol").to_pylist())
        meta = {
            b"tickwise.watermark": str(watermark).encode(),
            b"tickwise.partitions": json.dumps(sorted(partitions)).encode(),
        }
        self.producer.send(self.topic, key=self.member.encode(), value=to_ipc(bars.replace_schema_metadata(meta)))
        self.producer.flush()

    def poll(self, timeout_ms: int = 0) -> int:
        """Read what the members published; the watermark every tick partition has reached (0 until all have)."""
        for msgs in self.consumer.poll(timeout_ms=timeout_ms).values():
            for m in msgs:
                table = from_ipc(m.value)
                meta = table.schema.metadata or {}
                wm = int(meta[b"tickwise.watermark"])
                for topic, part in json.loads(meta[b"tickwise.partitions"]):
                    self.cover[(topic, part)] = max(self.cover.get((topic, part), 0), wm)
                if table.num_rows:
                    self.pending.append(table.replace_schema_metadata(None))
        if not self.every or any(tp not in self.cover for tp in self.every):
            return 0
        return min(self.cover[tp] for tp in self.every)

    def take(self, watermark: int) -> pa.Table | None:
        """The assembled bars stamped at or before ``watermark`` (the rest stays pending); None if none."""
        if not self.pending:
            return None
        bars = pa.concat_tables(self.pending)
        ts = bars.column("ts").cast(pa.int64())
        due = pc.less_equal(ts, watermark)
        later = bars.filter(pc.invert(due))
        self.pending = [later] if later.num_rows else []
        return bars.filter(due)

    def serves(self, symbols: list[str]) -> np.ndarray:
        """Which of ``symbols`` this member serves."""
        return np.fromiter((s in self.own for s in symbols), bool, len(symbols))

    def close(self) -> None:
        self.consumer.close()
        self.producer.close()

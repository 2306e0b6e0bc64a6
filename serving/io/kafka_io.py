"""Plain kafka-python clients with the settings this project measured (STACK.md)."""

import numpy as np
import pyarrow as pa
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
from kafka.partitioner.default import murmur2

RECONNECT_MAX_MS = 1000  # the client's default backs off up to 30 s: a restarted broker would wait that long
API_VERSION = (2, 8)  # without it a producer with no broker blocks 30 s probing versions; (2, 8, 0) logs a warning


def producer(bootstrap: str) -> KafkaProducer:
    """A batched producer: ~60 k ticks/s here with linger 20 ms and 256 KB batches."""
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=20,
        batch_size=256 * 1024,
        acks=1,
        enable_idempotence=False,  # acks=1 rules it out; saying so keeps the client from warning at each start
        api_version=API_VERSION,
        reconnect_backoff_max_ms=RECONNECT_MAX_MS,
    )


def feed_producer(bootstrap: str) -> KafkaProducer:
    """A feed adapter's producer: messages are batches of ticks already, so they go out at once (linger 1 ms)."""
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=1,
        batch_size=1024 * 1024,
        max_request_size=8 * 1024 * 1024,
        acks=1,
        enable_idempotence=False,
        api_version=API_VERSION,
        reconnect_backoff_max_ms=RECONNECT_MAX_MS,
    )


def signal_producer(bootstrap: str) -> KafkaProducer:
    """One large message per minute: sent at once (no linger), in a batch big enough for 5,000 rows."""
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=0,
        batch_size=1024 * 1024,
        max_request_size=8 * 1024 * 1024,
        acks=1,
        enable_idempotence=False,
        api_version=API_VERSION,
        reconnect_backoff_max_ms=RECONNECT_MAX_MS,
    )


def consumer(bootstrap: str, *topics: str, group: str | None, **kw: object) -> KafkaConsumer:
    return KafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group,
        api_version=API_VERSION,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        reconnect_backoff_max_ms=RECONNECT_MAX_MS,
        **kw,
    )


def ensure_topics(bootstrap: str, names: list[str], partitions: int = 4, configs: dict[str, str] | None = None) -> None:
    """Create the topics if they do not exist (keyed by symbol: partitions spread symbols), with ``configs``."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, api_version=API_VERSION)
    try:
        existing = set(admin.list_topics())
        new = [
            NewTopic(n, num_partitions=partitions, replication_factor=1, topic_configs=configs or {})
            for n in names
            if n not in existing
        ]
        if new:
            try:
                admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass  # another process created it between the listing and the call: the goal is reached
    finally:
        admin.close()


def partitions_of_rows(symbols: pa.ChunkedArray, partitions: int) -> np.ndarray:
    """Each row's partition from a table's symbol column, hashed once per distinct name."""
    enc = symbols.combine_chunks().dictionary_encode()
    return partition_of(enc.dictionary.to_pylist(), partitions)[enc.indices.to_numpy(zero_copy_only=False)]


def partition_of(symbols: list[str], partitions: int) -> np.ndarray:
    """The partition Kafka's default partitioner gives each symbol as a key, so a message of one symbol keyed by
    it and a batch sent to a partition explicitly put that symbol's ticks in the same place."""
    return np.array([(murmur2(s.encode()) & 0x7FFFFFFF) % partitions for s in symbols], np.int64)


THROUGH = "tickwise-through"  # header: the event time (ns, 8 bytes big-endian) a partition has been sent up to


def through_header(ns: int) -> list[tuple[str, bytes]]:
    return [(THROUGH, int(ns).to_bytes(8, "big", signed=True))]


def through_of(headers: list[tuple[str, bytes]] | None) -> int:
    """The ``tickwise-through`` header's event time, 0 without one."""
    for k, v in headers or ():
        if k == THROUGH and len(v) == 8:
            return int.from_bytes(v, "big", signed=True)
    return 0

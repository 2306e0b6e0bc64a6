"""Where signals go: a list (tests, embedded mode) or a Kafka topic (one Arrow IPC batch per cycle)."""

from abc import ABC, abstractmethod

import pyarrow as pa

from marketdata.schemas import SIGNALS


def to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue().to_pybytes()


def from_ipc(blob: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(blob)).read_all()


class SignalSink(ABC):
    @abstractmethod
    def publish(self, ts: int, signals: pa.Table) -> None:
        """Publish one cycle's signals (contract ``signals`` schema)."""

    def flush(self) -> None:
        return None


class ListSink(SignalSink):
    def __init__(self) -> None:
        self.batches: list[pa.Table] = []

    def publish(self, ts: int, signals: pa.Table) -> None:
        self.batches.append(signals)

    def table(self) -> pa.Table:
        return pa.concat_tables(self.batches) if self.batches else SIGNALS.empty_table()


class KafkaSignalSink(SignalSink):
    """One message per cycle on ``topic``, key = the minute (ns), value = Arrow IPC of the signals."""

    def __init__(self, bootstrap: str, topic: str = "signals"):
        from serving.kafka_io import signal_producer

        self.topic = topic
        self.producer = signal_producer(bootstrap)

    def publish(self, ts: int, signals: pa.Table) -> None:
        self.producer.send(self.topic, key=str(ts).encode(), value=to_ipc(signals))

    def flush(self) -> None:
        self.producer.flush()

"""The Kafka signal sink's publisher thread: order kept, flush waits for delivery, failures raised not dropped."""

import pyarrow as pa
import pytest

import serving.kafka_io
from serving.sinks import KafkaSignalSink, from_ipc


class FakeProducer:
    def __init__(self, fail_at: int = -1):
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.fail_at = fail_at
        self.flushed = 0

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        if len(self.sent) == self.fail_at:
            raise ConnectionError("broker went away")
        self.sent.append((topic, key, value))

    def flush(self) -> None:
        self.flushed += 1


def sink_with(monkeypatch, producer: FakeProducer) -> KafkaSignalSink:
    monkeypatch.setattr(serving.kafka_io, "signal_producer", lambda bootstrap: producer)
    monkeypatch.setattr(serving.kafka_io, "ensure_topics", lambda bootstrap, names: None)
    return KafkaSignalSink("unused:0", "signals", queue_cycles=2)


def test_cycles_go_out_in_order_and_flush_waits_for_all(monkeypatch):
    prod = FakeProducer()
    sink = sink_with(monkeypatch, prod)
    for ts in range(10):
        sink.publish(ts, pa.table({"ts": [ts]}))
    sink.flush()
    assert [int(k) for _, k, _ in prod.sent] == list(range(10))
    assert [from_ipc(v).column("ts")[0].as_py() for _, _, v in prod.sent] == list(range(10))
    assert prod.flushed == 1


def test_a_failed_send_is_raised_and_nothing_after_it_goes_out(monkeypatch):
    prod = FakeProducer(fail_at=3)
    sink = sink_with(monkeypatch, prod)
    for ts in range(6):
        try:
            sink.publish(ts, pa.table({"ts": [ts]}))
        except RuntimeError:
            break
    with pytest.raises(RuntimeError, match="broker went away"):
        sink.flush()
    assert [int(k) for _, k, _ in prod.sent] == [0, 1, 2]  # the scorer restarts from its last checkpoint

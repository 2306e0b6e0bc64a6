"""A scorer loop on the real broker and Redis, wired as `tickwise serve --mode kafka` wires it (serving.app.runtime),
on the topics of one test."""

import numpy as np
import pyarrow as pa

from serving.app.loop import ScoringLoop
from serving.inference.model_runtime import ModelRuntime
from serving.io import kafka_io
from serving.io.checkpoint import CheckpointWriter
from serving.io.checkpoint_store import RedisCheckpointStore
from serving.io.kafka_sources import KafkaTickSource
from serving.io.online_store import RedisOnlineStore
from serving.io.outputs import KafkaDeadLetters, Outputs
from serving.io.sinks import KafkaSignalSink, from_ipc
from serving.step.ingest import TickAssembler
from serving.step.safety import CircuitBreaker
from serving.step.scorer import Scorer


def make_loop(engine, model, bootstrap, redis_url, prefix, group, signals, dlq, universe=None, lateness_ns=0):
    # 16 names and a 20-tree model: a one-sided minute is normal here, so the breaker only watches the mean
    scorer = Scorer(
        engine,
        ModelRuntime(model, compile_trees=False) if model is not None else None,
        model_budget_ms=1e9,
        breaker=CircuitBreaker(share_bounds=(0.0, 1.0)),
    )
    kinds = {f"{prefix}.{k}": k for k in ("trades", "quotes", "status", "actions", "vix")}
    assembler = TickAssembler(universe, lateness_ns=lateness_ns, kinds=kinds)

    def owned(mine, every):
        assembler.assign(mine)

    source = KafkaTickSource(bootstrap, group, tuple(kinds), on_assign=owned)
    sink = KafkaSignalSink(bootstrap, signals)
    outputs = Outputs(sink, RedisOnlineStore(redis_url, engine.version), lambda m: None)
    writer = CheckpointWriter(RedisCheckpointStore(redis_url, group), ready=lambda m: sink.wait_delivered(m, 30))
    return ScoringLoop(source, assembler, scorer, outputs, KafkaDeadLetters(bootstrap, dlq), writer)


def read_signals(bootstrap, topic):
    c = kafka_io.consumer(bootstrap, topic, group=None, consumer_timeout_ms=4000)
    tables = [from_ipc(m.value) for m in c]
    c.close()
    return pa.concat_tables(tables).sort_by([("ts", "ascending"), ("symbol", "ascending")])


def last_minute(bars: pa.Table) -> int:
    return int(bars.column("ts").cast(pa.int64()).to_numpy().max())


def assert_equal_offline(served: pa.Table, offline: dict) -> None:
    keys = zip(served.column("symbol").to_pylist(), served.column("ts").cast(pa.int64()).to_pylist(), strict=True)
    np.testing.assert_allclose(
        served.column("p_up").to_numpy(), np.array([offline[k] for k in keys], np.float32), atol=1e-6
    )

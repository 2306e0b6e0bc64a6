"""A small trained model wrapped like a registry load, for serving tests (no MLflow needed)."""

import lightgbm as lgb
import numpy as np
import pyarrow as pa

from features import codes
from features.batch import fold
from features.engine import FeatureEngine
from modeling.dataset import build_dataset
from modeling.labels import LabelConfig
from modeling.loaded import LoadedModel, checksum
from modeling.train import fit_lgbm


def trained_model(bars: pa.Table, engine: FeatureEngine, rounds: int = 40) -> LoadedModel:
    feats, st = fold(engine, bars)
    d = build_dataset(bars, feats, LabelConfig())
    booster = fit_lgbm(d, {"num_leaves": 15}, num_boost_round=rounds)
    text = booster.model_to_string()
    b = lgb.Booster(model_str=text)
    table = codes.from_metadata(engine.metadata(st))  # what the training_dataset asset records
    return LoadedModel(b, "1", engine.version, b.feature_name(), checksum(text), b.num_trees(), 15, table)


def offline_predictions(bars: pa.Table, engine: FeatureEngine, model: LoadedModel) -> dict:
    feats, _ = fold(engine, bars)
    X = np.column_stack([feats.column(n).to_numpy(zero_copy_only=False).astype(np.float64) for n in engine.names])
    p = model.booster.predict(X.astype(np.float32).astype(np.float64))
    keys = zip(feats.column("symbol").to_pylist(), feats.column("ts").cast(pa.int64()).to_pylist(), strict=True)
    return dict(zip(keys, p, strict=True))


def signals_of(cycles) -> pa.Table:
    """The signals of the cycles that served names, in order."""
    from marketdata.schemas import SIGNALS

    served = [c.signals() for c in cycles if c.symbols]
    return pa.concat_tables(served) if served else SIGNALS.empty_table()


def bar_batch(bars: pa.Table) -> bytes:
    """``bars_1m`` rows as one message of the Flink job's bars topic (an Arrow IPC stream of its wire schema)."""
    from serving.flink import BARS_WIRE
    from serving.io.sinks import to_ipc

    cols = {n: bars.column(n) for n in BARS_WIRE.names}
    cols["ts"] = cols["ts"].cast(pa.int64())
    return to_ipc(pa.table(cols).cast(BARS_WIRE))


def bar_headers(minute: int, watermark: int, subtask: int, subtasks: int, n: int) -> list[tuple[str, bytes]]:
    """The headers the Flink job puts on a batch (flink/.../BarsJob.java)."""
    head = {"minute": minute, "watermark": watermark, "subtask": subtask, "subtasks": subtasks, "bars": n}
    return [(k, str(v).encode()) for k, v in head.items()]


def read_now(bootstrap: str, topic: str, timeout_s: float = 10.0) -> list:
    """Every message on ``topic`` now (to the end offsets read first), in partition order."""
    import time

    from kafka import TopicPartition

    from serving.io import kafka_io

    c = kafka_io.consumer(bootstrap, group=None)
    try:
        tps = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or ()]
        if not tps:
            return []
        ends = c.end_offsets(tps)
        c.assign(tps)
        c.seek_to_beginning()
        got: dict = {tp: [] for tp in tps}
        deadline = time.monotonic() + timeout_s
        while any(c.position(tp) < ends[tp] for tp in tps) and time.monotonic() < deadline:
            for tp, msgs in c.poll(timeout_ms=200).items():
                got[tp] += msgs
        return [m for tp in tps for m in got[tp]]
    finally:
        c.close()


def model_scorer(reference: pa.Table, model: LoadedModel):  # type: ignore[no-untyped-def]
    """A scorer on a fresh engine serving ``model`` (parity, not speed: no model budget)."""
    from serving.inference.model_runtime import ModelRuntime
    from serving.step.scorer import Scorer

    return Scorer(FeatureEngine(reference), ModelRuntime(model, compile_trees=False), model_budget_ms=1e9)


def in_process(reference, model, tables: dict, t0: int, minutes: int, through: int) -> list:  # type: ignore[no-untyped-def]
    """The ticks minute by minute through the in-process path (the tick assembler, then the scorer): its cycles up
    to minute ``through``."""
    from marketdata.schemas import NS_PER_MIN
    from serving.app.loop import ScoringLoop
    from serving.feed import tick_codec
    from serving.io.online_store import InProcessOnlineStore
    from serving.io.outputs import ListDeadLetters, Outputs
    from serving.io.sinks import ListSink
    from serving.io.sources import ListSource, Poll
    from serving.step.ingest import Record, TickAssembler

    polls, offset = [], 0
    for m in range(minutes):
        recs = []
        for kind, t in tables.items():
            ts = t.column("ts").cast(pa.int64()).to_numpy()
            rows = t.filter(pa.array((ts >= t0 + m * NS_PER_MIN) & (ts < t0 + (m + 1) * NS_PER_MIN)))
            recs.append(Record(f"ticks.{kind}", 0, offset, None, tick_codec.encode(kind, rows)))
            offset += 1
        polls.append(Poll(recs, t0 + (m + 1) * NS_PER_MIN))
    s = model_scorer(reference, model)
    out = Outputs(ListSink(), InProcessOnlineStore(s.engine.version), lambda m: None)
    loop = ScoringLoop(ListSource(polls), TickAssembler(lateness_ns=0), s, out, ListDeadLetters())
    cycles = []
    while not loop.source.exhausted:
        cycles += loop.poll_once()
    return [c for c in cycles if c.ts <= through]

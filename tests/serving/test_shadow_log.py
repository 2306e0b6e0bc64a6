"""The shadow log of a day written by several runs (a restart from the checkpoint, scale-out members) keeps every
run's rows; a run written again replaces only its own minutes."""

import datetime as dt
from types import SimpleNamespace

import numpy as np
import pyarrow as pa

from features.engine import FeatureEngine
from marketdata.lake import Lake
from marketdata.schemas import SIGNALS
from serving.runtime import shadow_write
from serving.sinks import ListSink

DAY = dt.date(2026, 3, 2)
T0 = 1_772_461_860_000_000_000  # 2026-03-02 14:31 UTC
M = 60_000_000_000


def run(minutes: range, p: float, names=("AAA", "BBB"), days: int = 0):  # type: ignore[no-untyped-def]
    engine, sink = FeatureEngine(), ListSink()
    rows = []
    for m in minutes:
        ts = T0 + m * M + days * 24 * 60 * M
        sig = {"symbol": list(names), "ts": [ts] * len(names), "p_up": [p] * len(names)}
        sig |= {"model_version": ["1"] * len(names), "source": ["model"] * len(names)}
        sink.publish(ts, pa.table(sig, schema=SIGNALS))
        rows.append((ts, list(names), np.full((len(names), len(engine.names)), p, np.float32)))
    scorer = SimpleNamespace(sink=sink, engine=engine, online=SimpleNamespace(state=SimpleNamespace(symbols=[])))
    return scorer, rows


def test_a_restarted_scorer_continues_the_days_log(tmp_path):
    lake = Lake(str(tmp_path))
    scorer, rows = run(range(0, 60), 0.6)  # the morning
    shadow_write(lake, scorer, DAY, rows)
    scorer, rows = run(range(60, 120), 0.7)  # restarted from its checkpoint: the next hour
    shadow_write(lake, scorer, DAY, rows)
    sig, feats = lake.read("signals", [DAY]), lake.read("features_served", [DAY])
    assert sig.num_rows == feats.num_rows == 2 * 120  # the old code kept the last run's 120 rows only
    p = sig.column("p_up").to_numpy()
    assert np.allclose(p[:120], 0.6) and np.allclose(p[120:], 0.7)  # in time order
    scorer, rows = run(range(30, 90), 0.9)  # a run over minutes already logged replaces those minutes only
    shadow_write(lake, scorer, DAY, rows)
    p = lake.read("signals", [DAY]).column("p_up").to_numpy()
    assert len(p) == 240 and np.allclose(p[60:180], 0.9) and np.allclose(p[:60], 0.6) and np.allclose(p[180:], 0.7)


def test_scale_out_members_keep_each_others_symbols(tmp_path):
    lake = Lake(str(tmp_path))
    for names in (("AAA",), ("BBB",)):
        scorer, rows = run(range(0, 10), 0.5, names)
        shadow_write(lake, scorer, DAY, rows)
    assert sorted(set(lake.read("signals", [DAY]).column("symbol").to_pylist())) == ["AAA", "BBB"]


def test_a_restart_keeps_the_mornings_latency_and_the_day_reports_its_worst_run(tmp_path):
    from serving.runtime import day_latency, write_run_summary

    lake = Lake(str(tmp_path))
    assert day_latency(lake, DAY) is None
    write_run_summary(lake, DAY, {"cycles": 200, "p50_ms": 15.0, "p99_ms": 48.0})  # the morning: a bad tail
    write_run_summary(lake, DAY, {"cycles": 190, "p50_ms": 16.0, "p99_ms": 21.0})  # after the restart
    assert day_latency(lake, DAY) == {"p50_ms": 16.0, "p99_ms": 48.0}  # the last run alone said p99 21 ms


def test_periodic_flushes_land_each_minute_in_its_own_day_and_forget_what_they_wrote(tmp_path):
    """`serve --mode kafka` flushes its shadow log every `shadow_flush_minutes` scored minutes: a run spanning
    two sessions writes each minute, and each signal, to its own day (all of them went to the last day's partition
    before), and the flushed rows leave memory, so flushing twice writes nothing twice."""
    from serving.runtime import flush_shadow

    lake = Lake(str(tmp_path))
    scorer, rows = run(range(0, 30), 0.6)
    later, later_rows = run(range(0, 20), 0.7, days=1)  # the same minutes a day later, in the same run
    rows += later_rows
    scorer.sink.batches += later.sink.batches
    flush_shadow(lake, scorer, rows)
    assert rows == [] and scorer.sink.batches == []
    assert lake.read("features_served", [DAY]).num_rows == 60
    assert lake.read("features_served", [DAY + dt.timedelta(days=1)]).num_rows == 40
    assert (
        lake.read("signals", [DAY]).num_rows == 60 and lake.read("signals", [DAY + dt.timedelta(days=1)]).num_rows == 40
    )


def test_a_negative_flush_interval_fails_at_start_up_naming_the_field(monkeypatch):
    import pydantic
    import pytest

    from serving.settings import ServeSettings

    monkeypatch.setenv("TICKWISE_SHADOW_FLUSH_MINUTES", "-1")
    with pytest.raises(pydantic.ValidationError, match="shadow_flush_minutes"):
        ServeSettings()

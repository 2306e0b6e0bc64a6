"""The shadow log of a day written by several runs (a restart from the checkpoint) keeps every run's rows; a run
written again replaces only its own minutes; flushes as it goes land each minute in its own day."""

import datetime as dt

import numpy as np

from features.engine import FeatureEngine
from marketdata.lake import Lake
from serving.io.outputs import ShadowLog
from serving.step.scorer import CycleResult

DAY = dt.date(2026, 3, 2)
T0 = 1_772_461_860_000_000_000  # 2026-03-02 14:31 UTC
M = 60_000_000_000
ENGINE = FeatureEngine()


def run(lake: Lake, minutes: range, p: float, names=("AAA", "BBB"), days: int = 0, every: int = 0) -> ShadowLog:
    log = ShadowLog(lake, ENGINE, every)
    for m in minutes:
        ts = T0 + m * M + days * 24 * 60 * M
        rows = np.full((len(names), len(ENGINE.names)), p, np.float32)
        log.add(CycleResult(ts, list(names), np.full(len(names), p), "model", "1", rows=rows))
        if log.due():
            log.flush()
    return log


def test_a_restarted_scorer_continues_the_days_log(tmp_path):
    lake = Lake(str(tmp_path))
    run(lake, range(0, 60), 0.6).flush()  # the morning
    run(lake, range(60, 120), 0.7).flush()  # restarted from its checkpoint: the next hour
    sig, feats = lake.read("signals", [DAY]), lake.read("features_served", [DAY])
    assert sig.num_rows == feats.num_rows == 2 * 120  # a whole-day replace would keep the last run's 120 only
    p = sig.column("p_up").to_numpy()
    assert np.allclose(p[:120], 0.6) and np.allclose(p[120:], 0.7)  # in time order
    run(lake, range(30, 90), 0.9).flush()  # a run over minutes already logged replaces those minutes only
    p = lake.read("signals", [DAY]).column("p_up").to_numpy()
    assert len(p) == 240 and np.allclose(p[60:180], 0.9) and np.allclose(p[:60], 0.6) and np.allclose(p[180:], 0.7)


def test_a_restart_keeps_the_mornings_latency_and_the_day_reports_its_worst_run(tmp_path):
    from monitoring.scorer_runs import day_latency, write_run_summary

    lake = Lake(str(tmp_path))
    assert day_latency(lake, DAY) is None
    write_run_summary(lake, DAY, {"cycles": 200, "p50_ms": 15.0, "p99_ms": 48.0})  # the morning: a bad tail
    write_run_summary(lake, DAY, {"cycles": 190, "p50_ms": 16.0, "p99_ms": 21.0})  # after the restart
    assert day_latency(lake, DAY) == {"p50_ms": 16.0, "p99_ms": 48.0}  # the last run alone said p99 21 ms


def test_periodic_flushes_land_each_minute_in_its_own_day_and_forget_what_they_wrote(tmp_path):
    """The scorer flushes its shadow log every `shadow_flush_minutes` scored minutes: a run spanning two sessions
    writes each minute, and each signal, to its own day, and the flushed rows leave memory, so flushing twice
    writes nothing twice."""
    lake = Lake(str(tmp_path))
    log = ShadowLog(lake, ENGINE, every=25)
    for days, n, p in ((0, 30, 0.6), (1, 20, 0.7)):  # the same minutes a day later, in the same run
        for m in range(n):
            rows = np.full((2, len(ENGINE.names)), p, np.float32)
            log.add(CycleResult(T0 + m * M + days * 1440 * M, ["AAA", "BBB"], np.full(2, p), "model", "1", rows=rows))
            if log.due():
                log.flush()
                assert log.held == []
    log.flush()
    log.flush()
    assert lake.read("features_served", [DAY]).num_rows == 60
    assert lake.read("features_served", [DAY + dt.timedelta(days=1)]).num_rows == 40
    assert lake.read("signals", [DAY]).num_rows == 60
    assert lake.read("signals", [DAY + dt.timedelta(days=1)]).num_rows == 40


def test_a_negative_flush_interval_fails_at_start_up_naming_the_field(monkeypatch):
    import pydantic
    import pytest

    from serving.app.settings import ServeSettings

    monkeypatch.setenv("TICKWISE_SHADOW_FLUSH_MINUTES", "-1")
    with pytest.raises(pydantic.ValidationError, match="shadow_flush_minutes"):
        ServeSettings()

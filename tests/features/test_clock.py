"""The compiled engine's stage timings (features.fused.clock): they account for work done, within the wall time."""

import time

import numpy as np

from features.batch import cross_sections, fold
from features.engine import FeatureEngine
from features.fused.clock import OFFLINE_STAGES, ONLINE_STAGES, now, seconds, tick_rate
from features.streams import random_stream


def test_tick_rate_agrees_with_the_wall_clock():
    rate = tick_rate()
    t0, c0 = time.perf_counter(), now()
    time.sleep(0.1)
    t1, c1 = time.perf_counter(), now()
    assert abs((c1 - c0) / rate - (t1 - t0)) < 0.02  # 20 ms of slack for a busy machine


def test_fold_stages_are_each_stage_and_within_the_fold():
    bars, ref, ca = random_stream(3, n_symbols=12, days=2, minutes=None)
    engine = FeatureEngine(ref, ca)
    fold(engine, bars.slice(0, 50))  # compiled before timing
    engine = FeatureEngine(ref, ca)
    c0 = now()
    fold(engine, bars)
    wall = now() - c0
    spent = engine.scratch.fold_clock
    assert spent.shape == (len(OFFLINE_STAGES),)
    assert np.all(spent > 0), dict(zip(OFFLINE_STAGES, spent, strict=True))  # every stage ran and was counted
    assert spent.sum() < wall  # counted once each: no stage overlaps another or outlives the fold
    assert sum(seconds(OFFLINE_STAGES, spent).values()) < wall / tick_rate()


def test_fold_clock_restarts_with_each_fold():
    bars, ref, ca = random_stream(5, n_symbols=8, days=2)
    engine = FeatureEngine(ref, ca)
    fold(engine, bars)
    whole = engine.scratch.fold_clock.sum()
    fold(engine, bars.slice(0, 20), state=engine.new_state())
    assert 0 < engine.scratch.fold_clock.sum() < whole  # the small fold's ticks alone, not added to the first's


def test_step_ticks_count_each_threads_stages_within_the_wall_time():
    bars, ref, ca = random_stream(9, n_symbols=10, days=1)
    for threads in (1, 2):
        engine = FeatureEngine(ref, ca, step_threads=threads)
        st = engine.new_state()
        total = np.zeros((2, len(ONLINE_STAGES)), np.int64)
        for t, syms, cols, halted in cross_sections(bars):
            c0 = now()
            st, _ = engine.step(st, t, syms, cols, halted)
            wall = now() - c0
            per_thread = engine.scratch.thread_ticks()
            assert per_thread.shape == (2, len(ONLINE_STAGES)) and (per_thread >= 0).all()
            assert (per_thread.sum(axis=1) <= wall).all()  # each thread's stages within the step's wall time
            assert np.array_equal(engine.scratch.step_ticks(), per_thread.sum(axis=0))
            total += per_thread
        assert (total[0] > 0).all() or threads == 2  # alone, the caller runs every stage
        assert total[:, 9:11].sum() > 0 and (total[1, 9:11] == 0).all()  # leaders and rank: the caller's
        if threads == 1:
            assert total[1].sum() == 0

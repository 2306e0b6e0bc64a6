"""Offline and online agree everywhere; nothing at or before t depends on bars after t."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from features.batch import cross_sections, fold
from features.engine import FeatureEngine
from features.online import OnlineFeatures, minutes_of, replay
from features.state_io import dumps, loads
from features.streams import random_stream, scramble_after


def batch_rows(engine, bars):
    """The fold, keeping float64 rows keyed by (ts, symbol)."""
    st = engine.new_state()
    out = {}
    for t, syms, cols, halted in cross_sections(bars):
        st, vals = engine.step(st, t, syms, cols, halted)
        for s, v in zip(syms, vals, strict=True):
            out[(t, s)] = v
    return out, st


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prefix_parity_online_vs_batch(seed):
    bars, ref, ca = random_stream(seed)
    engine = FeatureEngine(ref, ca)
    batch, _ = batch_rows(engine, bars)
    online = OnlineFeatures(FeatureEngine(ref, ca))
    checked = 0
    for i, (t, minute_bars) in enumerate(minutes_of(bars)):
        syms, rows = online.on_minute(t, minute_bars)
        for s, r in zip(syms, rows, strict=True):
            b = batch[(t, s)]
            both = ~np.isnan(b)
            assert np.array_equal(np.isnan(r), np.isnan(b)), (t, s)
            rel = np.abs(r[both] - b[both]) / np.maximum(1.0, np.abs(b[both]))
            assert rel.max(initial=0) <= 1e-9
            checked += 1
        if i % 17 == 16:  # a restart: checkpoint, throw the process away, restore
            online = OnlineFeatures(FeatureEngine(ref, ca), loads(online.checkpoint()))
    assert checked == bars.num_rows


def test_stream_has_the_awkward_cases():
    bars, ref, ca = random_stream(0)
    assert pc.sum(bars.column("halted")).as_py() >= 4
    assert ca.num_rows == 2
    first_ts = {
        s: t
        for s, t in zip(bars.column("symbol").to_pylist(), bars.column("ts").to_pylist(), strict=True)
        if s == "S05"
    }
    assert first_ts  # the late joiner is there


def test_save_restore_is_bit_identical():
    bars, ref, ca = random_stream(3)
    a, _ = replay(FeatureEngine(ref, ca), bars)
    b, _ = replay(FeatureEngine(ref, ca), bars, checkpoint_every=7)
    assert a.equals(b)
    st = FeatureEngine(ref, ca).new_state()
    eng = FeatureEngine(ref, ca)
    for t, syms, cols, h in cross_sections(bars.slice(0, 200)):
        st, _ = eng.step(st, t, syms, cols, h)
    assert dumps(loads(dumps(st))) == dumps(st)


def test_daily_partitions_carry_state_like_a_continuous_run():
    bars, ref, ca = random_stream(4, days=3)
    eng = FeatureEngine(ref, ca)
    whole, _ = fold(eng, bars)
    days = sorted(set(t.date() for t in bars.column("ts").to_pylist()))
    state = None
    parts = []
    for d in days:
        day = bars.filter(pc.equal(pc.cast(bars.column("ts"), pa.date32()), pa.scalar(d, pa.date32())))
        feats, st = fold(FeatureEngine(ref, ca), day, state)
        state = loads(dumps(st))  # as the Dagster asset stores it between partitions
        parts.append(feats)
    # each partition comes back in (symbol, ts) order within its day; the continuous run over all days
    by_key = [("symbol", "ascending"), ("ts", "ascending")]
    assert pa.concat_tables(parts).sort_by(by_key).equals(whole.sort_by(by_key))


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "numpy-reference"])
@pytest.mark.parametrize("seed", [0, 5])
def test_future_poisoning_every_feature(seed, compiled):
    bars, ref, ca = random_stream(seed, days=2)
    ts = np.unique(bars.column("ts").cast(pa.int64()).to_numpy())
    cut = int(ts[len(ts) // 2 + 3])
    clean, _ = fold(FeatureEngine(ref, ca, compiled=compiled), bars)
    dirty, _ = fold(FeatureEngine(ref, ca, compiled=compiled), scramble_after(bars, cut, seed))
    engine = FeatureEngine(ref, ca)

    def upto(t: pa.Table) -> pa.Table:
        return t.filter(pc.less_equal(t.column("ts").cast(pa.int64()), cut))

    a, b = upto(clean), upto(dirty)
    assert a.num_rows > 100 and a.num_rows == b.num_rows
    for name in engine.names:
        assert a.column(name).equals(b.column(name)), f"{name} changed at or before t when the future changed"
    after_a = clean.filter(pc.greater(clean.column("ts").cast(pa.int64()), cut))
    after_b = dirty.filter(pc.greater(dirty.column("ts").cast(pa.int64()), cut))
    assert not after_a.slice(0, min(after_a.num_rows, after_b.num_rows)).equals(
        after_b.slice(0, min(after_a.num_rows, after_b.num_rows))
    )  # the scramble did change the future


def test_a_state_from_another_feature_set_is_refused_not_continued():
    """A state carries the feature set that computed it; continuing it with other definitions (another FFD d, say,
    or a tickwise upgrade) would mix two definitions in one series, offline and online alike. A state saved before
    states recorded it is taken as the engine's."""
    from features.engine import StateMismatch, default_kernels
    from features.kernels.ffd import FFD

    bars, ref, ca = random_stream(4)
    ts = bars.column("ts").cast(pa.int64())
    day1 = bars.filter(pc.less(ts, pc.min(ts).as_py() + 12 * 3600 * 10**9))  # the first session
    assert 0 < day1.num_rows < bars.num_rows
    empty, same = fold(FeatureEngine(ref, ca), bars, fold(FeatureEngine(ref, ca), bars)[1])
    assert empty.num_rows == 0 and same.last_ts > 0  # nothing left after the state: no rows, no error
    engine = FeatureEngine(ref, ca)
    _, st = fold(engine, day1)
    assert loads(dumps(st)).feature_set == st.feature_set == engine.version
    other = FeatureEngine(ref, ca, kernels=[FFD(0.3) if k.name == "ffd" else k for k in default_kernels()])
    with pytest.raises(
        StateMismatch, match=f"computed by feature set {engine.version}; this engine's is {other.version}"
    ):
        fold(other, bars, loads(dumps(st)))
    with pytest.raises(StateMismatch):
        OnlineFeatures(other, loads(dumps(st)))
    online = OnlineFeatures(other)
    with pytest.raises(StateMismatch):
        online.state = loads(dumps(st))
    legacy = loads(dumps(st))
    legacy.feature_set = ""
    a, _ = fold(engine, bars, legacy)
    b, _ = fold(engine, bars, loads(dumps(st)))
    assert a.equals(b) and legacy.feature_set == engine.version

"""A user-supplied VIX series: mkt_vol follows it as of each minute, in both paths, and never from the future."""

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from features.batch import fold
from features.engine import FeatureEngine
from features.online import replay
from features.streams import random_stream

DAY = dt.datetime(2026, 3, 2, 14, 30, tzinfo=dt.UTC)


def _vix(minutes: int, seed: int = 0) -> pa.Table:
    """A VIX print every 3 minutes over two days (stamped between bars, at :20 s)."""
    rng = np.random.default_rng(seed)
    ts = [DAY + dt.timedelta(minutes=3 * i, seconds=20) for i in range(minutes // 3)]
    ts += [t + dt.timedelta(days=1) for t in ts]
    return pa.table({"ts": pa.array(ts, pa.timestamp("ns", "UTC")), "value": 15 + rng.gamma(2, 2, len(ts))})


@pytest.fixture(scope="module")
def stream():
    bars, ref, ca = random_stream(seed=3)
    return bars, ref, ca


def test_mkt_vol_is_the_vix_as_of_each_minute_in_both_paths(stream):
    bars, ref, ca = stream
    vix = _vix(60)
    eng = FeatureEngine(ref, ca, vix=vix)
    assert eng.version != FeatureEngine(ref, ca).version  # a model trained on VIX is refused by a proxy engine
    offline, _ = fold(eng, bars)
    offline = offline.sort_by([("ts", "ascending"), ("symbol", "ascending")])  # replay serves minute by minute
    online, _ = replay(FeatureEngine(ref, ca, vix=vix), bars)
    assert offline.equals(online)
    vts = vix.column("ts").cast(pa.int64()).to_numpy()
    vv = vix.column("value").to_numpy()
    ts = offline.column("ts").cast(pa.int64()).to_numpy()
    got = offline.column("mkt_vol").to_numpy(zero_copy_only=False)
    i = np.searchsorted(vts, ts, side="right") - 1
    want = np.where(i >= 0, vv[np.maximum(i, 0)] / 100 / np.sqrt(252 * 390), np.nan)
    live = ~np.isnan(got)  # symbols without a bar this minute keep their last row
    fresh = offline.column("stale_minutes").to_numpy() == 0
    np.testing.assert_allclose(got[live & fresh], want[live & fresh], rtol=1e-6)  # stored as float32
    assert (live & fresh).sum() > 100


def test_vix_values_after_t_change_nothing_at_or_before_t(stream):
    bars, ref, ca = stream
    vix = _vix(60)
    cut = int((DAY + dt.timedelta(minutes=30)).timestamp() * 1e9)
    vts = vix.column("ts").cast(pa.int64()).to_numpy()
    poisoned = vix.set_column(1, "value", pa.array(np.where(vts > cut, 99.0, vix.column("value").to_numpy())))
    a, _ = fold(FeatureEngine(ref, ca, vix=vix), bars)
    b, _ = fold(FeatureEngine(ref, ca, vix=poisoned), bars)
    keep = pa.array(a.column("ts").cast(pa.int64()).to_numpy() <= cut)
    assert a.filter(keep).equals(b.filter(keep))
    assert not a.equals(b)  # the poison does reach the later rows


def test_vix_must_arrive_in_order():
    eng = FeatureEngine(vix=_vix(30))
    with pytest.raises(ValueError, match="event-time order"):
        eng.add_vix(_vix(30))

"""The training set built a session at a time equals the continuous build (the walk-forward CLI relies on it)."""

import numpy as np
import pyarrow as pa
import pytest

from features.batch import fold
from features.engine import FeatureEngine
from features.streams import random_stream
from marketdata.lake import partition_dates
from modeling.dataset import build_by_session, build_dataset
from modeling.labels import LabelConfig


def _sessions(bars: pa.Table) -> list[pa.Table]:
    when = partition_dates(bars, "ts").astype(str)
    return [bars.filter(pa.array(when == d)) for d in sorted(set(when.tolist()))]


@pytest.mark.parametrize("cusum", [0.0, 1.0])
def test_by_session_equals_continuous_on_whole_sessions(cusum):
    bars, ref, ca = random_stream(2, n_symbols=10, days=3, minutes=None)
    cfg = LabelConfig(horizon=5, cusum=cusum)
    feats, _ = fold(FeatureEngine(ref, ca), bars)
    whole = build_dataset(bars, feats, cfg)
    seen: list[int] = []
    parts = build_by_session(_sessions(bars), FeatureEngine(ref, ca), cfg, on_session=seen.append)
    assert len(seen) == 3 and sum(seen) == bars.num_rows
    assert len(whole.y) > 1_000 and parts.names == whole.names
    np.testing.assert_array_equal(parts.X, whole.X)  # NaN == NaN here: bit-equal float32 rows
    for a, b in ((parts.y, whole.y), (parts.ts, whole.ts), (parts.t1, whole.t1)):
        np.testing.assert_array_equal(a, b)
    # uniqueness weights are averages of concurrency sums taken over a session or over all: equal to rounding
    np.testing.assert_allclose(parts.w, whole.w, rtol=1e-12, atol=0)
    assert parts.extra.keys() == whole.extra.keys()
    for k in whole.extra:
        np.testing.assert_array_equal(parts.extra[k], whole.extra[k])


def test_no_sessions_is_an_error():
    with pytest.raises(ValueError, match="no sessions"):
        build_by_session([], FeatureEngine(), LabelConfig())

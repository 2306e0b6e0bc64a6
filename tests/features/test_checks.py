"""features_1m's value checks, summed a day at a time: they must catch a bad value on any day of a range."""

import numpy as np
import pyarrow as pa

from features.batch import fold
from features.checks import Tally
from features.engine import FeatureEngine
from features.streams import random_stream
from marketdata.lake import partition_dates


def _days():
    bars, ref, ca = random_stream(5, days=2, minutes=None)
    engine = FeatureEngine(ref, ca)
    when = partition_dates(bars, "ts").astype(str)
    out, state = [], None
    for day in sorted(set(when.tolist())):
        counts: list[np.ndarray] = []
        feats, state = fold(engine, bars.filter(pa.array(when == day)), state, counts=counts)
        out.append((feats, np.concatenate(counts)))
    return engine, out


def _warmup(engine: FeatureEngine, name: str) -> int:
    return next(s.warmup for s in engine.specs if s.name == name)


def _tally(engine, days) -> Tally:
    t = Tally(engine)
    for feats, counts in days:
        t.add(feats, counts)
    return t


def _replaced(table: pa.Table, name: str, row: int, value: float) -> pa.Table:
    v = table.column(name).to_numpy(zero_copy_only=False).copy()
    v[row] = value
    i = table.column_names.index(name)
    return table.set_column(i, name, pa.array(v, table.schema.field(name).type))


def test_clean_days_pass():
    engine, days = _days()
    t = _tally(engine, days)
    assert t.nan_after_warmup().passed and t.within_bounds().passed
    n_rows = sum(f.num_rows for f, _ in days)
    w = _warmup(engine, "rsi_14")
    assert t.warm["rsi_14"] == sum(int((c >= w).sum()) for _, c in days) and 0 < t.warm["rsi_14"] < n_rows


def test_an_out_of_bounds_value_on_the_last_day_fails_and_is_named():
    engine, days = _days()
    lo, hi = engine.bounds["rsi_14"]
    feats, counts = days[-1]
    days[-1] = (_replaced(feats, "rsi_14", feats.num_rows - 1, hi + 50), counts)
    out = _tally(engine, days).within_bounds()
    assert not out.passed
    assert "rsi_14" in out.metadata["violations"] and f"{hi + 50:.4g}" in out.metadata["violations"]


def test_a_nan_after_warmup_on_the_first_day_fails_with_its_share_of_all_days():
    engine, days = _days()
    feats, counts = days[0]
    name = "rsi_14"
    warm_row = int(np.flatnonzero(counts >= _warmup(engine, name))[0])
    days[0] = (_replaced(feats, name, warm_row, np.nan), counts)
    t = _tally(engine, days)
    out = t.nan_after_warmup()
    assert not out.passed
    assert f"'{name}': {round(1 / t.warm[name], 6)}" in out.metadata["violations"]


def test_context_columns_are_bounds_checked_too():
    """tod_sin is a context column, not a spec: its bounds are checked all the same."""
    engine, days = _days()
    assert "tod_sin" not in {s.name for s in engine.specs}
    feats, counts = days[0]
    days[0] = (_replaced(feats, "tod_sin", 0, 5.0), counts)
    out = _tally(engine, days).within_bounds()
    assert not out.passed and "tod_sin" in out.metadata["violations"]

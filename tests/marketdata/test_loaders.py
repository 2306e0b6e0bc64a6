"""Loading vendor tick files: the clock check that catches a file read in the wrong time zone."""

import datetime as dt

import numpy as np
import pyarrow as pa

from marketdata import loaders


def _naive_ticks(start: dt.datetime, hours: float, n: int = 2_000) -> pa.Table:
    """Naive timestamps spread evenly over ``hours`` from ``start`` (a trading day's wall clock)."""
    offsets = np.linspace(0, hours * 3600e9, n).astype("int64")
    t0 = np.datetime64(start, "ns").astype("int64")
    ts = pa.array(t0 + offsets, pa.int64()).cast(pa.timestamp("ns"))
    return pa.table({"DT": ts, "PRICE": np.full(n, 10.0), "SIZE": np.full(n, 100.0)})


def test_a_utc_file_read_as_new_york_is_flagged_and_the_right_zone_is_named():
    raw = _naive_ticks(dt.datetime(2026, 3, 3, 14, 30), 6.5)  # the session on a UTC clock (New York is UTC-5)
    hint = loaders.clock_hint(raw, {"ts": "DT"}, "America/New_York")
    assert hint is not None and "--tz UTC" in hint and "read as America/New_York, 23%" in hint
    assert loaders.clock_hint(raw, {"ts": "DT"}, "UTC") is None


def test_a_new_york_file_read_as_utc_is_flagged():
    raw = _naive_ticks(dt.datetime(2026, 3, 3, 9, 30), 6.5)
    hint = loaders.clock_hint(raw, {"ts": "DT"}, "UTC")
    assert hint is not None and "--tz America/New_York" in hint
    assert loaders.clock_hint(raw, {"ts": "DT"}, "America/New_York") is None


def test_extended_hours_alone_are_not_a_wrong_clock():
    """A right clock with many pre- and post-market rows keeps its share: no other zone does much better."""
    raw = _naive_ticks(dt.datetime(2026, 3, 3, 4, 0), 16.0)  # 04:00-20:00 New York, the full extended day
    assert loaders.clock_hint(raw, {"ts": "DT"}, "America/New_York") is None


def test_zoned_times_and_files_without_times_are_never_questioned():
    raw = _naive_ticks(dt.datetime(2026, 3, 3, 14, 30), 6.5)
    zoned = raw.set_column(0, "DT", raw.column("DT").cast(pa.timestamp("ns", tz="America/New_York")))
    assert loaders.clock_hint(zoned, {"ts": "DT"}, "America/New_York") is None
    assert loaders.clock_hint(raw.drop(["DT"]), {}, "UTC") is None

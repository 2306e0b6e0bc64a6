"""The compiled step (features.fused) against the numpy reference kernels, and against itself online/offline."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from features.batch import cross_sections, fold
from features.engine import FeatureEngine
from features.fused.cross import rank_scratch
from features.fused.sort import radix_argsort, stable_argsort
from features.state_io import dumps, loads
from features.streams import random_stream


def stepped(
    engine: FeatureEngine,
    bars: pa.Table,
    switch_every: int = 0,
    other: FeatureEngine | None = None,
    prepare: bool = True,
):
    """Float64 rows of the online step; with ``other``, the engines alternate every ``switch_every`` minutes on
    one state (they share its format), each restoring what the other saved. With ``prepare``, the engine prepares
    the next minute between minutes as the scorer does — except every 7th minute (both paths run)."""
    st = engine.new_state()
    rows = []
    for k, (t, syms, cols, halted) in enumerate(cross_sections(bars)):
        eng = other if other is not None and switch_every and (k // switch_every) % 2 else engine
        if other is not None and switch_every and k % switch_every == 0:
            st = loads(dumps(st))
        st, vals = eng.step(st, t, syms, cols, halted)
        if prepare and k % 7 != 6:
            eng.prepare(st)
        rows.append(vals)
    return np.vstack(rows)


def assert_close(a: np.ndarray, b: np.ndarray, names: list[str]) -> None:
    for j, name in enumerate(names):
        x, y = a[:, j], b[:, j]
        assert np.array_equal(np.isnan(x), np.isnan(y)), f"{name}: NaN pattern differs"
        ok = ~np.isnan(x)
        rel = np.abs(x[ok] - y[ok]) / np.maximum(1.0, np.abs(x[ok]))
        assert rel.max(initial=0.0) <= 1e-9, f"{name}: max relative difference {rel.max()}"


@pytest.mark.parametrize("seed", [0, 1, 2, 6])
def test_compiled_step_equals_the_numpy_reference(seed):
    bars, ref, ca = random_stream(seed, days=3)
    fast, slow = FeatureEngine(ref, ca), FeatureEngine(ref, ca, compiled=False)
    assert fast.fused is not None and slow.fused is None
    assert fast.version == slow.version  # the same feature set, two implementations
    a, b = stepped(fast, bars), stepped(slow, bars)
    assert a.shape == (bars.num_rows, len(fast.names))
    assert (~np.isnan(a)).sum() > 0.8 * a.size  # mostly warmed up: the comparison is not of NaNs
    assert_close(a, b, fast.names)


def test_running_window_sums_keep_the_rings_digits_and_their_nans():
    """The rolling VWAP's running sums (features.fused.rolling) against the numpy kernel's re-summed rings: a
    10^9-share minute leaving a window of small ones (a running sum without compensation is 2.6e-7 off
    afterwards), a window without volume (no VWAP: the close), fractional volumes, a non-finite VWAP in the window
    (NaN while it is there, as the rings give), and a split's rescale in between."""
    bars, ref, ca = random_stream(4, days=2, minutes=None)
    sym = bars.column("symbol").to_numpy(zero_copy_only=False)
    k = np.cumsum(sym == "S01") - 1  # the stock's bar number
    vol = bars.column("volume").to_numpy(zero_copy_only=False).astype(float)
    vwap = bars.column("vwap").to_numpy(zero_copy_only=False).astype(float)
    stock = sym == "S01"
    vol[stock] = np.where(k[stock] % 97 == 5, 1e9, 1.0 + (k[stock] % 7) / 3)
    vol[stock & (k >= 150) & (k < 200)] = 0.0
    vwap[stock & (k == 250)] = np.nan
    bars = bars.set_column(bars.schema.get_field_index("volume"), "volume", pa.array(vol))
    bars = bars.set_column(bars.schema.get_field_index("vwap"), "vwap", pa.array(vwap))
    fast, slow = FeatureEngine(ref, ca), FeatureEngine(ref, ca, compiled=False)
    a, b = stepped(fast, bars), stepped(slow, bars)
    col = fast.names.index("vwap_dev_30")
    assert np.isnan(a[stock, col]).sum() > 29  # the non-finite VWAP's window is NaN, then it is not
    assert not np.isnan(a[stock & (k > 300), col]).any()
    assert_close(a, b, fast.names)


def test_bollinger_running_sums_keep_the_variances_digits():
    """The Bollinger bands' running sums (features.fused.rolling.bands_push) against the numpy kernel's two-pass
    mean and deviation: flat windows (%b 0.5 in both, also where the mean is rounded), a $10,000 price moving by
    cents (a variance 10^-12 of the price squared: an unanchored running sum of squares is 10^-4 off), a trend that
    carries the mean away from the anchor, a 50 % jump and a split's rescale."""
    bars, ref, ca = random_stream(4, days=2, minutes=None)
    bars = bars.sort_by([("ts", "ascending"), ("symbol", "ascending")])  # the order of the stepped rows
    sym = bars.column("symbol").to_numpy(zero_copy_only=False)
    stock = sym == "S01"  # the stock that splits 2:1 on the second day
    k = np.cumsum(stock) - 1
    rng = np.random.default_rng(0)
    cents = 1e4 + np.cumsum(rng.choice([-0.01, 0.0, 0.01], len(k)))
    path = np.where(k < 50, 50.0, np.where(k < 100, 10.1, cents))
    path = np.where((k >= 250) & (k < 350), path * (1 + 0.002 * (k - 250)), path)
    path = np.where(k >= 350, path * 1.5, path)
    close = bars.column("close").to_numpy(zero_copy_only=False).astype(float)
    close[stock] = path[stock]
    for name in ("open", "high", "low", "close", "vwap"):
        col = np.where(stock, close, bars.column(name).to_numpy(zero_copy_only=False).astype(float))
        bars = bars.set_column(bars.schema.get_field_index(name), name, pa.array(col))
    fast, slow = FeatureEngine(ref, ca), FeatureEngine(ref, ca, compiled=False)
    a, b = stepped(fast, bars), stepped(slow, bars)
    pctb, width = fast.names.index("bb_pctb_20"), fast.names.index("bb_width_20")
    flat = stock & (((k >= 19) & (k < 50)) | ((k >= 69) & (k < 100)))  # 20 x 10.1 has a mean 1 ulp off
    assert (a[flat, pctb] == 0.5).all() and (b[flat, pctb] == 0.5).all() and (np.abs(a[flat, width]) < 1e-15).all()
    assert not np.isnan(a[stock & (k >= 19), width]).any()
    assert_close(a, b, fast.names)


def test_engines_share_the_state_format():
    bars, ref, ca = random_stream(7, days=2)
    fast, slow = FeatureEngine(ref, ca), FeatureEngine(ref, ca, compiled=False)
    assert_close(stepped(fast, bars, 13, slow), stepped(slow, bars), fast.names)


def test_state_arrays_stay_column_major_through_registration_and_restore():
    """Every 2-D state array (rings, FFD window, same-minute statistics, last outputs) keeps a symbol's values
    contiguous: symbols joining on a later day, a save/restore, and a snapshot written row-major all keep it (a
    row-major array would still compute the same numbers, only several times slower online)."""
    bars, ref, ca = random_stream(3, days=2)
    eng = FeatureEngine(ref, ca)
    days = bars.column("ts").cast(pa.int64()).to_numpy() // 86_400_000_000_000
    _, st = fold(eng, bars.filter(pa.array(days == days.min())))
    _, st = fold(eng, bars, loads(dumps(st)))  # the second day registers symbols that join late
    arrays = {f"{i}/{k}": a for i, ks in enumerate(st.kernels) for k, a in ks.items()} | {"last_out": st.last_out}
    two_d = {k: a for k, a in arrays.items() if a.ndim > 1}
    assert len(two_d) >= 11 and st.last_out.shape[1] == len(st.symbols)
    assert [k for k, a in two_d.items() if not a.flags.f_contiguous] == []
    st.kernels[3]["buf"] = np.ascontiguousarray(st.kernels[3]["buf"])  # as an earlier engine saved its rings
    st.last_out = np.ascontiguousarray(st.last_out)
    back = loads(dumps(st))
    assert not st.last_out.flags.f_contiguous
    assert back.last_out.flags.f_contiguous and back.kernels[3]["buf"].flags.f_contiguous
    assert np.array_equal(back.kernels[3]["buf"], st.kernels[3]["buf"])


def test_a_snapshot_with_the_same_minute_statistics_apart_restores_to_the_same_numbers():
    """Engines before session 8 kept the same-minute volume mean, variance and count as three arrays; such a
    snapshot restores into the one ``tod`` array and continues exactly as the unbroken state does."""
    bars, ref, ca = random_stream(5, days=3)
    eng = FeatureEngine(ref, ca)
    days = bars.column("ts").cast(pa.int64()).to_numpy() // 86_400_000_000_000
    first, rest = bars.filter(pa.array(days == days.min())), bars.filter(pa.array(days > days.min()))
    _, st = fold(eng, first)
    vtod = next(ks for ks in st.kernels if "tod" in ks)
    tod = vtod["tod"].copy()
    assert tod[2].max() >= 1  # the day filled some statistics: the conversion is of real numbers
    want, _ = fold(eng, rest, loads(dumps(st)))
    del vtod["tod"]
    vtod["m"], vtod["s"], vtod["c"] = (np.asfortranarray(tod[j]) for j in range(3))
    back = loads(dumps(st))
    got = next(ks for ks in back.kernels if "tod" in ks)
    assert "m" not in got and got["tod"].flags.f_contiguous and np.array_equal(got["tod"], tod)
    assert fold(eng, rest, back)[0].equals(want)
    # before session 8 the rolling VWAP had no running sums, before session 9 the Bollinger bands: restored stale,
    # re-summed on each symbol's next push
    del next(ks for ks in st.kernels if "run" in ks)["run"]
    del next(ks for ks in st.kernels if "sums" in ks)["sums"]
    back = loads(dumps(st))
    run = next(ks for ks in back.kernels if "pv" in ks)["run"]
    sums = next(ks for ks in back.kernels if ks.keys() == {"buf", "buf_n", "sums"})["sums"]
    assert run.shape == sums.shape == (6, len(st.symbols)) and (run[5] == -1).all() and (sums[5] == -1).all()
    got_t = fold(eng, rest, back)[0]
    assert_close(*(np.column_stack([t.column(c).to_numpy(zero_copy_only=False) for c in eng.names]).astype(float)
                   for t in (got_t, want)), eng.names)  # fmt: skip


def test_compiled_fold_is_the_online_step_bit_for_bit():
    bars, ref, ca = random_stream(8, days=2, minutes=None)  # whole sessions: every feature warms up, FFD too
    eng = FeatureEngine(ref, ca)
    table, st = fold(eng, bars)
    table = table.sort_by([("ts", "ascending"), ("symbol", "ascending")])  # the fold keeps the input's order
    online = stepped(FeatureEngine(ref, ca), bars).astype(np.float32)
    batch = np.column_stack([table.column(n).to_numpy(zero_copy_only=False) for n in eng.names])
    assert (~np.isnan(batch)).all(axis=0).sum() < len(eng.names)  # warm-up NaNs exist ...
    assert (~np.isnan(batch[-100:])).all()  # ... and by the end every feature has values
    assert np.array_equal(batch, online, equal_nan=True)
    _, st_ref = fold(FeatureEngine(ref, ca, compiled=False), bars)
    np.testing.assert_allclose(st.last_out, st_ref.last_out, rtol=1e-9, atol=1e-12)  # same state at the end


def test_a_custom_kernel_list_runs_the_numpy_kernels():
    from features.kernels.momentum import RSI

    assert FeatureEngine(kernels=[RSI()]).fused is None


def test_stable_argsort_matches_numpy():
    rng = np.random.default_rng(0)
    for trial in range(300):
        v = np.round(rng.standard_normal(int(rng.integers(1, 400))) * rng.choice([1e-4, 1.0, 1e6]), 2)
        if trial % 3 == 0:
            v[rng.random(len(v)) < 0.3] = -0.0  # ties, and -0.0 equal to 0.0
        assert np.array_equal(stable_argsort(v), np.argsort(v, kind="stable")), trial
    # keys equal in their top 33 bits, differing below: a few (sorted within their run), then so many that the
    # sort starts over with every pass, then ties among them; 5,000 returns as the rank sees them
    base = 0.0123
    for spread, count in ((3, 6), (5000, 3000), (40, 2000)):
        v = base + base * 2.0**-40 * rng.integers(0, spread, count)
        v = np.r_[v, -v[: count // 3], rng.normal(0, 0.01, 500)]
        assert np.array_equal(stable_argsort(v), np.argsort(v, kind="stable")), (spread, count)
    v = rng.normal(0, 0.01, 5000)
    assert np.array_equal(stable_argsort(v), np.argsort(v, kind="stable"))
    scratch = rank_scratch(8000)  # as the rank uses it: scratch for every registered symbol, keys for some
    for spread, count in ((10**9, 5000), (5000, 3000)):
        v = base + base * 2.0**-40 * rng.integers(0, spread, count)
        cur = radix_argsort(v, scratch[2], scratch[3], scratch[4])
        assert np.array_equal(scratch[3][cur, :count], np.argsort(v, kind="stable"))


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "numpy-reference"])
def test_beta_against_a_leader_that_barely_moves_is_clipped(compiled):
    import datetime as dt

    from marketdata.calendar import bar_stamps
    from marketdata.schemas import BARS_1M

    ts = bar_stamps(dt.date(2026, 3, 2))[:80]
    spy = 100 * np.exp(np.cumsum(np.tile([1e-5, -1e-5], 40)))  # the leader hardly moves...
    stock = 50 * np.exp(np.cumsum(np.tile([1e-3, -1e-3], 40)))  # ...and the stock moves 100x as much with it
    rows = []
    for sym, px in (("SPY", spy), ("AAA", stock)):
        for t, c in zip(ts, px, strict=True):
            rows.append((sym, int(t), c, c, c, c, 1000.0, c, 10, c - 0.01, c + 0.01, 100.0, 100.0, False))
    cols = list(zip(*rows, strict=True))
    bars = pa.table({f.name: pa.array(v).cast(f.type) for f, v in zip(BARS_1M, cols, strict=True)}, schema=BARS_1M)
    eng = FeatureEngine(compiled=compiled)
    table, _ = fold(eng, bars)
    beta = table.filter(pc.equal(table.column("symbol"), "AAA")).column("beta_lead").to_numpy(zero_copy_only=False)
    beta = beta[~np.isnan(beta)]
    assert len(beta) > 20 and np.all(np.abs(beta) <= 20.0) and np.isclose(beta.max(), 20.0)


def test_the_folds_minute_grid_equals_the_online_one_on_any_order():
    """The fold's grid (a merge along runs of ascending stamps) is the online path's grid (sort and unique), for
    lake order, time order, a shuffle, and stamps off the grid (between minutes, on a weekend)."""
    from features.batch import minute_grid
    from features.fused.driver import minute_grid_of

    bars, _, _ = random_stream(4, days=2)
    ts = bars.sort_by([("symbol", "ascending"), ("ts", "ascending")]).column("ts").cast(pa.int64()).to_numpy()
    odd = np.r_[ts[:3] + 17, ts[-2:] - 86_400_000_000_000 * 3 + 5]
    rng = np.random.default_rng(0)
    for x in (ts, np.sort(ts), ts[rng.permutation(len(ts))], np.r_[ts, odd], np.r_[odd, ts]):
        assert np.array_equal(minute_grid_of(x), minute_grid(x))
    assert len(np.setdiff1d(minute_grid_of(np.r_[ts, odd]), minute_grid_of(ts))) == len(np.unique(odd))


def test_preparing_between_minutes_changes_no_bit():
    """The FFD partial sums prepared between minutes give the bits the step gets summing the window itself —
    across session changes with a split and a dividend (which must void them), symbols joining late, and
    save/restore of a prepared state."""
    bars, ref, ca = random_stream(5, days=2, minutes=None)  # whole sessions: FFD's 282-minute windows fill
    a = stepped(FeatureEngine(ref, ca), bars, prepare=False)
    b = stepped(FeatureEngine(ref, ca), bars)
    eng = FeatureEngine(ref, ca)
    st = eng.new_state()
    rows = []
    for t, syms, cols, halted in cross_sections(bars):
        st, vals = eng.step(st, t, syms, cols, halted)
        eng.prepare(st)
        eng.prepare(st)  # a second call between the same minutes (the Kafka loop idles after every poll)
        st = loads(dumps(st))
        rows.append(vals)
    ffd = eng.names.index(next(n for n in eng.names if n.startswith("ffd_")))
    assert (~np.isnan(a[:, ffd])).sum() > 100  # FFD windows filled: the prepared sums were used
    assert np.array_equal(a, b, equal_nan=True)
    assert np.array_equal(a, np.vstack(rows), equal_nan=True)


def test_stale_prepared_sums_would_show():
    """The check above can fail: partial sums prepared, then the rings moved without voiding them (a split
    rescaling them), change the FFD values."""
    from features.fused.step import FFD_SLOT

    bars, ref, ca = random_stream(5, days=1, minutes=None)
    eng = FeatureEngine(ref, ca)
    st = eng.new_state()
    minutes = list(cross_sections(bars))
    for t, syms, cols, halted in minutes[:-1]:
        st, _ = eng.step(st, t, syms, cols, halted)
    twin = loads(dumps(st))
    eng.prepare(st)
    ffd = st.kernels[FFD_SLOT]
    ffd["buf"] += 0.01  # what a rescale does to the log prices, without voiding the sums
    twin.kernels[FFD_SLOT]["buf"] += 0.01
    t, syms, cols, halted = minutes[-1]
    _, stale = eng.step(st, t, syms, cols, halted)
    _, fresh = eng.step(twin, t, syms, cols, halted)
    col = eng.names.index(next(n for n in eng.names if n.startswith("ffd_")))
    ok = ~np.isnan(fresh[:, col])
    assert ok.any() and not np.array_equal(stale[ok, col], fresh[ok, col])

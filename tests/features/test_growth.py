"""Registering symbols grows the state in place and keeps every value where concatenation would put it."""

import numpy as np
import pytest

from features.engine import FeatureEngine
from features.growth import append_symbols


@pytest.mark.parametrize("shape, fortran", [((0,), False), ((3, 0), True), ((3, 0), False)])
def test_append_equals_concatenation(shape, fortran):
    rng = np.random.default_rng(0)
    cur = np.zeros(shape, order="F" if fortran else "C")
    want = cur
    for m in (5, 1, 2, 9, 1, 30):
        new = rng.random((*shape[:-1], m))
        cur = append_symbols(cur, new, fortran)
        want = np.concatenate([want, new], axis=-1)
        assert np.array_equal(cur, want)
        assert cur.flags.f_contiguous if fortran else cur.flags.c_contiguous or cur.ndim > 1


def test_registering_one_symbol_at_a_time_copies_nothing_until_the_room_runs_out():
    eng = FeatureEngine()
    st = eng.new_state()
    eng.begin_day(st, 1_772_461_800_000_000_000, [f"S{i:03d}" for i in range(100)])
    buf = st.kernels[3]["buf"]  # a ring, column-major
    bases = {id(buf.base), id(st.last_out.base)}
    before = (buf.copy(), st.last_out.copy())
    for i in range(40):  # room for half as many again: 50 more fit
        eng._register(st, [f"N{i:03d}"])
    assert st.kernels[3]["buf"].shape[-1] == st.last_out.shape[-1] == 140 == len(st.symbols)
    assert {id(st.kernels[3]["buf"].base), id(st.last_out.base)} == bases  # the same buffers, grown in place
    assert st.kernels[3]["buf"].flags.f_contiguous and st.last_out.flags.f_contiguous
    assert np.array_equal(st.kernels[3]["buf"][:, :100], before[0], equal_nan=True)
    assert np.array_equal(st.last_out[:, :100], before[1], equal_nan=True)
    for i in range(40, 60):
        eng._register(st, [f"N{i:03d}"])
    assert id(st.last_out.base) not in bases and len(st.symbols) == st.nupd.shape[0] == 160

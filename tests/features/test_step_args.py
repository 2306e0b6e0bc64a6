"""The online step's arguments kept from minute to minute (features.fused.step.fixed_args) follow the state."""

import numpy as np

from features import fused
from features.batch import cross_sections
from features.engine import FeatureEngine
from features.fused.step import arrays_in, fixed_args
from features.state_io import dumps, loads
from features.streams import random_stream


def kept_is_current(eng: FeatureEngine, st) -> bool:
    """Whether the kept arguments hold the state's own arrays (the same memory, not copies, not arrays the state
    has replaced since; a scalar's one-element view is made anew each time, so memory is compared, not objects)."""
    kept = fixed_args(eng, st)
    now = (eng.engine_arrays(st), fused.state_tuples(eng.kernels, st.kernels))
    a, b = list(arrays_in(kept[5:7])), list(arrays_in(now))
    same = [x.ctypes.data == y.ctypes.data and x.shape == y.shape for x, y in zip(a, b, strict=True)]
    return len(a) == len(b) and all(same)


def test_kept_arguments_are_the_states_arrays_through_joins_restores_and_prepares():
    bars, ref, ca = random_stream(3, n_symbols=12, days=2)
    first = {}
    for t, s in zip(bars.column("ts").to_pylist(), bars.column("symbol").to_pylist(), strict=True):
        first.setdefault(s, t)
    late = bars.filter(np.array([first[s] > min(first.values()) for s in bars.column("symbol").to_pylist()]))
    assert late.num_rows, "the stream has symbols joining late: registration replaces the state's arrays"
    eng = FeatureEngine(ref, ca)
    st = eng.new_state()
    for k, (t, syms, cols, halted) in enumerate(cross_sections(bars)):
        st, _ = eng.step(st, t, syms, cols, halted)
        assert kept_is_current(eng, st)
        if k % 3 == 0:
            eng.prepare(st)
            assert kept_is_current(eng, st)
        if k % 11 == 0:
            st = loads(dumps(st))  # another state object: nothing of the old one may be used


def test_a_stale_kept_argument_would_show():
    """The check above can fail: a state array replaced behind the engine's back is caught."""
    bars, ref, ca = random_stream(3, n_symbols=12, days=1)
    eng = FeatureEngine(ref, ca)
    st = eng.new_state()
    t, syms, cols, halted = next(iter(cross_sections(bars)))
    st, _ = eng.step(st, t, syms, cols, halted)
    assert kept_is_current(eng, st)
    st.kernels[0]["cum"] = st.kernels[0]["cum"].copy()
    assert not kept_is_current(eng, st)

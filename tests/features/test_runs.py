"""The fold's symbol codes from the runs of a (symbol, ts)-sorted column (features.fused.runs)."""

import numpy as np
import pyarrow as pa
import pytest

from features.fused.runs import encode, sorted_runs


def dictionary_codes(col: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """The reference: every name hashed, codes by name order."""
    names = sorted(set(col.to_pylist()))
    pos = {s: k for k, s in enumerate(names)}
    return np.array([pos[s] for s in col.to_pylist()], np.int64), names


@pytest.mark.parametrize("typ", [pa.string(), pa.large_string()])
def test_runs_give_the_name_order_codes(typ):
    """Prefixes, a name longer than 7 bytes, non-ASCII bytes, a run of one row, over chunks and a sliced array."""
    names = ["A", "AA", "AAPL", "AB", "B", "BRK.B", "LONGNAME123", "Z", "Ä"]
    rng = np.random.default_rng(0)
    rows = [s for s in names for _ in range(int(rng.integers(1, 5)))]
    col = pa.chunked_array([pa.array(rows[:7], typ), pa.array(rows[7:], typ)])
    runs = sorted_runs(col)
    assert runs is not None
    want_codes, want_names = dictionary_codes(col)
    assert runs[1] == want_names and np.array_equal(runs[0], want_codes)
    sliced = pa.array(["X"] + rows, typ).slice(1)  # a non-zero Arrow offset
    got = sorted_runs(sliced)
    assert got is not None and np.array_equal(got[0], want_codes)


@pytest.mark.parametrize(
    "rows",
    [["B", "B", "A"], ["A", "B", "A"], ["AB", "A"], ["A", "B", "B", "AC"]],
    ids=["descending", "a name twice", "prefix after", "late smaller"],
)
def test_names_out_of_order_fall_back_to_the_dictionary(rows):
    """Runs out of name order (or a name in two runs) are refused, and :func:`encode` still codes by name order."""
    col = pa.chunked_array([pa.array(rows)])
    assert sorted_runs(col) is None
    bars = pa.table({"symbol": col, "ts": pa.array(np.arange(len(rows)), pa.timestamp("ns", "UTC"))})
    _ts, code, names = encode(bars)
    want_codes, want_names = dictionary_codes(col)
    assert names == want_names and np.array_equal(code, want_codes)


def test_empty_column():
    runs = sorted_runs(pa.chunked_array([pa.array([], pa.string())]))
    assert runs is not None and len(runs[0]) == 0 and runs[1] == []

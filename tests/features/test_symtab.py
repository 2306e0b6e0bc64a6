"""A minute's Arrow symbol column finds the same registry rows as the dict, and the step serves the same bits."""

import numpy as np
import pyarrow as pa
import pytest

from features.engine import FeatureEngine
from features.state_io import dumps, loads
from features.streams import random_stream
from features.symtab import SymbolTable


def _names(rng: np.random.Generator, n: int) -> list[str]:
    alphabet = list("ABCDEFGHIJKLMNOPQRSTUVWXYZ.-") + ["é", "Ω", "株"]
    out = {"".join(rng.choice(alphabet, rng.integers(1, 7))) for _ in range(n)}
    return sorted(out) + [""]  # the empty name is a name too


def test_rows_equal_the_dict_for_grown_tables_slices_chunks_and_large_strings():
    rng = np.random.default_rng(3)
    names = _names(rng, 3000)
    table = SymbolTable()
    registry: list[str] = []
    for k in (1, 7, 200, 1500, len(names)):  # grown a few times: incremental inserts and rehashes
        registry = names[:k]
        table.sync(registry)
        index = {s: i for i, s in enumerate(registry)}
        query = list(rng.choice(names, 800)) + ["NOT-THERE", "ABCDEFGHIJ"]
        want = np.array([index.get(s, -1) for s in query])
        for arr in (
            pa.array(query, pa.string()),
            pa.array(["pad", *query], pa.string()).slice(1),  # an array with an offset
            pa.chunked_array([query[:300], query[300:]], pa.string()),
            pa.array(query, pa.large_string()),
            pa.array(query, pa.string()).dictionary_encode(),
        ):
            rows, missing = table.rows(arr)
            assert np.array_equal(rows, want)
            assert missing == int((want < 0).sum())


def test_minute_after_minute_of_nearly_the_same_names_finds_the_rows_of_the_dict():
    """The look-up walks the registry in name order: names dropping out and coming back, newcomers (missing,
    then registered and asked again, as the engine does), swapped neighbours, long names (never taken from the
    walk on their key alone), a registry not in name order and a wholly new order all give the dict's rows."""
    rng = np.random.default_rng(8)
    names = _names(rng, 600) + [f"LONGNAME-{k}" for k in range(40)]
    universe = sorted(names)
    table, registry = SymbolTable(), list(rng.permutation(universe[:300]))
    table.sync(registry)
    for minute in range(60):
        keep = [s for s in universe if rng.random() < 0.95]
        if minute % 7 == 3 and len(keep) > 4:
            k = int(rng.integers(0, len(keep) - 1))
            keep[k], keep[k + 1] = keep[k + 1], keep[k]
        if minute % 11 == 5:
            keep = list(rng.permutation(keep))
        index = {s: i for i, s in enumerate(registry)}
        rows, missing = table.rows(pa.array(keep, pa.string()))
        assert np.array_equal(rows, [index.get(s, -1) for s in keep])
        assert missing == sum(s not in index for s in keep)
        if missing:  # the engine registers the newcomers, then asks again for the same minute
            registry += [s for s in keep if s not in index]
            table.sync(registry)
            index = {s: i for i, s in enumerate(registry)}
            rows, missing = table.rows(pa.array(keep, pa.string()))
            assert missing == 0 and np.array_equal(rows, [index[s] for s in keep])
    assert len(registry) > 300


def test_a_null_symbol_is_refused_with_a_reason():
    table = SymbolTable()
    table.sync(["A"])
    with pytest.raises(ValueError, match="null"):
        table.rows(pa.array(["A", None], pa.string()))


def test_the_step_serves_the_same_rows_from_an_arrow_column_a_tuple_or_a_list():
    bars, ref, ca = random_stream(n_symbols=12, seed=5, minutes=90)  # with a split, a dividend, late joiners
    ts = bars.column("ts").cast(pa.int64()).to_numpy()
    engines = {k: FeatureEngine(ref, ca) for k in ("list", "tuple", "arrow")}
    states = {k: e.new_state() for k, e in engines.items()}
    for m, t in enumerate(np.unique(ts)):
        sel = bars.filter(pa.array(ts == t))
        order = np.random.default_rng(m).permutation(sel.num_rows)  # any order, newcomers included
        sel = sel.take(order)
        cols = {c: sel.column(c).to_numpy(zero_copy_only=False).astype(float) for c in
                ("open", "high", "low", "close", "volume", "vwap", "bid", "ask", "bid_size", "ask_size")}  # fmt: skip
        halted = sel.column("halted").to_numpy(zero_copy_only=False).astype(bool)
        outs = {}
        names = sel.column("symbol").to_pylist()
        for k, syms in (("list", names), ("tuple", tuple(names)), ("arrow", sel.column("symbol"))):
            states[k], outs[k] = engines[k].step(states[k], int(t), syms, cols, halted)
        for k in ("tuple", "arrow"):
            assert np.array_equal(outs["list"], outs[k], equal_nan=True)
            assert states["list"].symbols == states[k].symbols  # registered in the same order
        if m == 40:  # a restored state has no table yet; it builds one from its registry
            states["arrow"] = loads(dumps(states["arrow"]))

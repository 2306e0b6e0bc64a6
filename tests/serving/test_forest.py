"""The compiled forest over binned features predicts what LightGBM predicts: the same raw score bit for bit (leaves
summed in tree order), on numerical and categorical splits, NaN, zero and unseen categories, any tree shape."""

import os
import shutil
import threading
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from modeling.loaded import LoadedModel, checksum
from serving.inference import blockwalk, forest_walk
from serving.inference.forest import Unsupported, build
from serving.inference.model_runtime import ModelRuntime

# the block walk needs AVX-512 (F, BW) and a C compiler; the numba walk runs anywhere
NATIVE = blockwalk.cpu_supports() and shutil.which(os.environ.get("CC", "cc")) is not None


def walk(text: str, X: np.ndarray) -> np.ndarray:
    f = build(text)
    d = forest_walk.depths(f)
    perfect = int(d.max(initial=0)) <= forest_walk.MAX_PERFECT
    tables = forest_walk.perfect_tables(f, int(d.max(initial=0))) if perfect else forest_walk.general_tables(f, d)
    out = np.empty(len(X))
    forest_walk.kernel(perfect)(f.codes(X), out, 0, len(X), *tables)
    if NATIVE:  # the block walk gives the same floats, from any first block
        blocks, native = blockwalk.BlockForest(f, Path(".cache/models")), np.full(len(X), np.nan)
        X = np.ascontiguousarray(X, np.float64)
        blocks.raw(X, native, 0, 64 * (len(X) // 128))
        blocks.raw(X, native, 64 * (len(X) // 128))
        np.testing.assert_array_equal(native, out)
    return out


def data(rng: np.random.Generator, n: int, n_num: int, cats: list[int], nan: float, zeros: float) -> np.ndarray:
    X = rng.normal(size=(n, n_num + len(cats)))
    X[rng.random(X.shape) < zeros] = 0.0
    X[:, :n_num][rng.random((n, n_num)) < nan] = np.nan
    for j, levels in enumerate(cats):
        X[:, n_num + j] = rng.integers(0, levels, n)
    return X


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    leaves=st.sampled_from([2, 3, 7, 31, 63, 127]),  # 127: more than the 64 leaves the block walk permutes
    depth=st.sampled_from([-1, 3, 8]),
    cats=st.lists(st.sampled_from([3, 11, 300]), max_size=2),
    nan=st.sampled_from([0.0, 0.1]),
    zeros=st.sampled_from([0.0, 0.2]),
    zero_as_missing=st.booleans(),
)
# a split at exactly -1e-35 (LightGBM's zero threshold): predict reads such a value as 0.0, not as itself
@example(seed=186, leaves=2, depth=-1, cats=[3], nan=0.0, zeros=0.2, zero_as_missing=False)
@example(seed=7, leaves=127, depth=-1, cats=[300], nan=0.1, zeros=0.2, zero_as_missing=True)  # gathered leaves
def test_random_models_and_rows_match_lightgbm(seed, leaves, depth, cats, nan, zeros, zero_as_missing):
    rng = np.random.default_rng(seed)
    n_num = 4
    X = data(rng, 1500, n_num, cats, nan, zeros)
    signal = np.nan_to_num(X[:, 0]) + (X[:, n_num] % 3 == 1 if cats else 0)
    y = (signal + rng.normal(0, 1, len(X)) > 0).astype(int)
    params = {"objective": "binary", "num_leaves": leaves, "max_depth": depth, "verbose": -1, "num_threads": 1,
              "min_data_in_leaf": 5, "min_data_per_group": 5, "cat_smooth": 1, "max_cat_to_onehot": 4,
              "zero_as_missing": zero_as_missing, "seed": seed % 1000}  # fmt: skip
    cat_idx = list(range(n_num, n_num + len(cats)))
    b = lgb.train(params, lgb.Dataset(X, y, categorical_feature=cat_idx or "auto"), num_boost_round=15)
    Xt = data(rng, 700, n_num, cats, 0.15, 0.2)
    Xt[:50, 0] = rng.choice([1e-36, -1e-36, 1.0000000180025095e-35, -1.0000000180025095e-35, 0.0, -0.0], 50)
    for j in cat_idx:  # unseen, negative, fractional and missing categories
        Xt[:60, j] = rng.choice([-1.0, -0.5, 2.7, 1e6, np.nan, 70000.0], 60)
    np.testing.assert_array_equal(walk(b.model_to_string(), Xt), b.predict(Xt, raw_score=True))


def test_the_runtime_serves_the_forest_and_matches_lightgbm_probabilities(tmp_path):
    rng = np.random.default_rng(3)
    X = data(rng, 3000, 6, [5000, 11], 0.05, 0.05)
    y = (X[:, 0] + (X[:, 6] % 7 == 3) + rng.normal(0, 1, len(X)) > 0.5).astype(int)
    b = lgb.train({"objective": "binary", "num_leaves": 31, "verbose": -1, "num_threads": 1, "min_data_per_group": 20},
                  lgb.Dataset(X, y, categorical_feature=[6, 7]), num_boost_round=40)  # fmt: skip
    text = b.model_to_string()
    loaded = LoadedModel(b, "1", "fs", b.feature_name(), checksum(text), b.num_trees(), 31, None)
    Xt = data(rng, 5000, 6, [5100, 12], 0.05, 0.05)
    want = b.predict(Xt.astype(np.float32).astype(np.float64))
    for prefer, serves in ((("blockwalk", "forest", "lleaves"), "blockwalk" if NATIVE else "forest"),
                           (("forest", "lleaves"), "forest")):  # fmt: skip
        rt = ModelRuntime(loaded, cache_dir=str(tmp_path), background=False, prefer=prefer)  # no lleaves cached
        assert rt.runtime == serves and rt.compiled
        np.testing.assert_allclose(rt.predict(Xt), want, rtol=0, atol=1e-12)  # 2 threads split the rows
    slow = ModelRuntime(LoadedModel(b, "1", "fs", b.feature_name(), checksum(text), 40, 31, None), compile_trees=False)
    assert slow.runtime == "lightgbm" and not slow.compiled


def test_a_model_the_forest_cannot_hold_falls_back(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(500, 3)), rng.integers(0, 3, 500)
    b = lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1, "num_threads": 1}, lgb.Dataset(X, y), 3)
    with pytest.raises(Unsupported, match="multiclass"):
        build(b.model_to_string())
    text = b.model_to_string()
    rt = ModelRuntime(LoadedModel(b, "1", "fs", b.feature_name(), checksum(text), 9, 31, None),
                      prefer=("forest", "lightgbm"))  # fmt: skip
    assert rt.runtime == "lightgbm"


@pytest.mark.skipif(not NATIVE, reason="the block walk needs AVX-512")
def test_a_feature_with_more_bins_than_a_byte_holds_is_walked_by_the_numba_forest(tmp_path):
    rng = np.random.default_rng(5)
    X = data(rng, 4000, 3, [], 0.0, 0.0)
    y = (X[:, 0] + rng.normal(0, 0.3, len(X)) > 0).astype(int)
    b = lgb.train({"objective": "binary", "num_leaves": 63, "max_bin": 1023, "min_data_in_leaf": 2, "verbose": -1,
                   "num_threads": 1}, lgb.Dataset(X, y), num_boost_round=60)  # fmt: skip
    text = b.model_to_string()
    with pytest.raises(Unsupported, match="more than 254 thresholds"):
        blockwalk.BlockForest(build(text), tmp_path)
    rt = ModelRuntime(LoadedModel(b, "1", "fs", b.feature_name(), checksum(text), 60, 63, None),
                      cache_dir=str(tmp_path), background=False, prefer=("blockwalk", "forest"))  # fmt: skip
    assert rt.runtime == "forest"
    np.testing.assert_allclose(
        rt.predict(X[:500]), b.predict(X[:500].astype(np.float32).astype(np.float64)), atol=1e-12
    )


@pytest.mark.parametrize("cc, why", [("no-such-compiler", "no C compiler"), ("false", "compiling blockwalk.c failed")])
def test_without_a_working_c_compiler_the_numba_forest_serves_and_says_why(cc, why, tmp_path, monkeypatch, caplog):
    rng = np.random.default_rng(6)
    X = data(rng, 2000, 3, [40], 0.05, 0.0)
    y = (X[:, 0] + rng.normal(0, 0.5, len(X)) > 0).astype(int)
    b = lgb.train({"objective": "binary", "num_leaves": 15, "verbose": -1, "num_threads": 1},
                  lgb.Dataset(X, y, categorical_feature=[3]), num_boost_round=20)  # fmt: skip
    text = b.model_to_string()
    monkeypatch.setattr(blockwalk, "_LIB", None)  # as in a fresh process
    monkeypatch.setattr(blockwalk, "cpu_supports", lambda: True)
    monkeypatch.setenv("CC", str(tmp_path / cc) if cc.startswith("no-") else cc)
    rt = ModelRuntime(LoadedModel(b, "1", "fs", b.feature_name(), checksum(text), 20, 15, None),
                      cache_dir=str(tmp_path), background=False, prefer=("blockwalk", "forest"))  # fmt: skip
    assert rt.runtime == "forest"
    assert why in caplog.text
    np.testing.assert_allclose(
        rt.predict(X[:300]), b.predict(X[:300].astype(np.float32).astype(np.float64)), atol=1e-12
    )


@pytest.mark.slow
def test_a_production_sized_model_with_a_5000_level_symbol_builds_in_seconds_and_matches():
    rng = np.random.default_rng(1)
    X = data(rng, 60_000, 39, [5000, 11], 0.02, 0.0)
    y = (X[:, 0] + 0.3 * X[:, 1] + (X[:, 39] % 13 == 3) + rng.normal(0, 1, len(X)) > 0.3).astype(int)
    params = {"objective": "binary", "num_leaves": 63, "max_depth": 8, "verbose": -1, "num_threads": 2,
              "min_data_per_group": 50, "max_cat_threshold": 32}  # fmt: skip
    b = lgb.train(params, lgb.Dataset(X, y, categorical_feature=[39, 40]), num_boost_round=500)
    t0 = time.perf_counter()
    text = b.model_to_string()
    raw = walk(text, Xt := data(rng, 5000, 39, [5000, 11], 0.02, 0.0))
    assert time.perf_counter() - t0 < 60  # built (and the kernel compiled) in seconds, not lleaves' minutes
    np.testing.assert_array_equal(raw, b.predict(Xt, raw_score=True))


def test_rows_shared_with_a_helper_are_walked_once_and_its_errors_reach_the_caller():
    from serving.inference import model_runtime

    seen: list[tuple[int, int]] = []
    model_runtime.shared(lambda lo, hi: seen.append((lo, hi)), 5000, 512)
    assert sorted(seen) == [(lo, min(5000, lo + 512)) for lo in range(0, 5000, 512)]

    started = threading.Event()

    def part(lo: int, hi: int) -> None:
        if threading.current_thread() is threading.main_thread():
            assert started.wait(5)
        else:
            started.set()
            raise ValueError("the helper failed")

    with pytest.raises(ValueError, match="the helper failed"):
        model_runtime.shared(part, 5000, 512)


def test_the_caller_does_not_wait_for_a_helper_that_has_not_started():
    from serving.inference import model_runtime

    release = threading.Event()
    busy = [model_runtime._pool().submit(release.wait, 10) for _ in range(model_runtime._THREADS)]
    try:
        seen: list[int] = []
        t0 = time.perf_counter()
        model_runtime.shared(lambda lo, hi: seen.append(lo), 5000, 512)
        assert time.perf_counter() - t0 < 2 and len(seen) == 10  # all done here, none waited for
    finally:
        release.set()
        for f in busy:
            f.result()

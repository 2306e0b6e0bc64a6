"""A model reads each symbol under the code it was trained with, whatever order this engine registered them in."""

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pytest

from features import codes
from features.batch import fold
from features.engine import FeatureEngine
from marketdata.lake import Lake
from marketdata.pipeline import simulate_to_lake
from marketdata.simulator import SimConfig
from modeling.loaded import LoadedModel, checksum
from serving.app.replay import replay_day
from serving.inference.model_runtime import ModelRuntime
from serving.step.scorer import Scorer
from tests.serving.helpers import signals_of


def symbol_model(names: list[str], table: dict[str, list[str]], version: str = "v", seed: int = 3) -> LoadedModel:
    """Trees whose answer is the symbol's: up for even codes of ``table``, down for odd ones. A model fed another
    symbol's code answers for that symbol, so reading codes wrongly shows in its predictions."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((6000, len(names)))
    sid = rng.integers(0, len(table["symbol_id"]), len(X))
    X[:, names.index("symbol_id")] = sid
    X[:, names.index("sector_id")] = rng.integers(0, len(table["sector_id"]), len(X))
    params = {"objective": "binary", "verbose": -1, "num_threads": 1, "min_data_per_group": 5, "cat_smooth": 1}
    data = lgb.Dataset(
        X, (sid % 2 == 0).astype(float), feature_name=names, categorical_feature=list(codes.METADATA_KEYS)
    )
    text = lgb.train({**params, "max_cat_threshold": 64}, data, 15).model_to_string()
    b = lgb.Booster(model_str=text)
    return LoadedModel(b, "7", version, b.feature_name(), checksum(text), b.num_trees(), 31, table)


@pytest.fixture(scope="module")
def names():
    return FeatureEngine().names


def rows_coded(names, engine_ids: np.ndarray, seed: int = 4) -> np.ndarray:
    X = np.random.default_rng(seed).standard_normal((len(engine_ids), len(names)))
    X[:, names.index("symbol_id")] = engine_ids
    X[:, names.index("sector_id")] = 0
    return X


@pytest.mark.parametrize("compiled", [False, True])
def test_the_model_reads_its_own_codes(names, compiled, tmp_path):
    model_syms = [f"S{i:02d}" for i in range(20)]
    model = symbol_model(names, {"symbol_id": model_syms, "sector_id": ["XLK"]})
    engine_syms = model_syms[::-1] + ["NEW"]  # another pipeline's registry, and a symbol the model never saw
    X = rows_coded(names, np.arange(len(engine_syms)))
    want = X.copy()
    want[:, names.index("symbol_id")] = [model_syms.index(s) if s in model_syms else np.nan for s in engine_syms]
    expected = model.booster.predict(want)
    rt = ModelRuntime(model, compile_trees=compiled, cache_dir=str(tmp_path))
    assert rt.compiled == compiled
    up = np.array([model_syms.index(s) for s in engine_syms[:20]]) % 2 == 0  # each symbol's answer in the model
    assert np.all((rt.predict(X)[:20] > 0.5) != up)  # unbound: every engine code read as another symbol's
    differ = rt.bind_codes({"symbol_id": engine_syms, "sector_id": ["XLK"]})
    assert sorted(differ) == sorted(s for i, s in enumerate(model_syms) if model_syms[::-1].index(s) != i)
    np.testing.assert_allclose(rt.predict(X), expected, rtol=0, atol=1e-9)
    assert np.all((rt.predict(X)[:20] > 0.5) == up)


def test_a_growing_registry_is_translated_as_it_grows(names):
    model_syms = [f"S{i:02d}" for i in range(10)]
    model = symbol_model(names, {"symbol_id": model_syms, "sector_id": ["XLK"]})
    rt = ModelRuntime(model, compile_trees=False)
    registry = ["S01", "S00"]
    assert rt.bind_codes({"symbol_id": registry}) == ["S01", "S00"]
    assert rt.bind_codes({"symbol_id": registry}) == []  # nothing new: nothing done
    registry += ["S02", "S04"]
    assert rt.bind_codes({"symbol_id": registry}) == ["S04"]  # only the new names are looked at
    X = rows_coded(names, np.arange(4))
    want = X.copy()
    want[:, names.index("symbol_id")] = [1, 0, 2, 4]
    np.testing.assert_allclose(rt.predict(X), model.booster.predict(want), rtol=0, atol=1e-12)
    restored = ["S04", "S02", "S00", "S01"]  # a restored state: another list, translated from its start
    assert rt.bind_codes({"symbol_id": restored}) == restored
    want[:, names.index("symbol_id")] = [4, 2, 0, 1]
    np.testing.assert_allclose(rt.predict(X), model.booster.predict(want), rtol=0, atol=1e-12)


def test_the_scorer_feeds_the_model_its_training_codes(tmp_path):
    root = str(tmp_path / "lake")
    simulate_to_lake(SimConfig(symbols=20, days=1, seed=5), Lake(root), ticks=True)
    lake = Lake(root)
    engine = FeatureEngine(lake.read("reference"), lake.read("corporate_actions"))
    bars = lake.read("bars_1m")
    feats, st = fold(engine, bars)
    trained_on = st.symbols[::-1]  # the training pipeline registered the symbols in another order
    model = symbol_model(engine.names, {"symbol_id": trained_on, "sector_id": engine.sectors}, engine.version)
    rt = ModelRuntime(model, compile_trees=False)  # the budget is not the subject: a machine stall must not fall back
    s = Scorer(engine, rt, model_budget_ms=1e9)
    served = signals_of(replay_day(s, lake, lake.dates("trades")[0]))
    assert served.num_rows == bars.num_rows and set(served.column("source").to_pylist()) == {"model"}
    X = np.column_stack([feats.column(n).to_numpy(zero_copy_only=False) for n in engine.names]).astype(np.float64)
    offline = {"engine": model.booster.predict(X)}
    codes.recode(X, engine.names, {"symbol_id": codes.translation(trained_on, st.symbols)})
    offline["model"] = model.booster.predict(X)
    key = [
        f"{a}|{b}" for a, b in zip(feats.column("symbol").to_pylist(), feats.column("ts").cast(pa.int64()).to_pylist())
    ]
    got = dict(zip(key, offline["model"], strict=True))
    keys = zip(served.column("symbol").to_pylist(), served.column("ts").cast(pa.int64()).to_pylist(), strict=True)
    p = np.array([got[f"{a}|{b}"] for a, b in keys])
    np.testing.assert_allclose(served.column("p_up").to_numpy(), p.astype(np.float32), rtol=0, atol=1e-6)
    assert np.abs(offline["engine"] - offline["model"]).max() > 0.3  # untranslated codes would have served these

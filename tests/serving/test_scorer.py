"""The scorer serves what the offline path computes, and its safety rules hold."""

import time

import numpy as np
import pyarrow as pa
import pytest

from features.engine import FeatureEngine
from marketdata.lake import Lake
from marketdata.pipeline import simulate_to_lake
from marketdata.simulator import SimConfig
from serving.app.replay import replay_day
from serving.inference.model_runtime import ModelRuntime
from serving.step.safety import CircuitBreaker
from serving.step.scorer import ModelRefused, Scorer
from tests.serving.helpers import offline_predictions, signals_of, trained_model


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("serve") / "lake")
    simulate_to_lake(SimConfig(symbols=40, days=2, seed=8), Lake(root), ticks=True)
    lake = Lake(root)
    engine = FeatureEngine(lake.read("reference"), lake.read("corporate_actions"))
    bars = lake.read("bars_1m")
    model = trained_model(bars, engine)
    return lake, engine, bars, model


def make_scorer(engine, model=None, **kw):
    # parity, not speed: a loaded machine must not turn a slow cycle into a fallback (the budget has its own test)
    kw.setdefault("model_budget_ms", 1e9)
    return Scorer(engine, model, **kw)


def test_served_signals_equal_offline_predictions(world):
    lake, engine, bars, model = world
    runtime = ModelRuntime(model, compile_trees=False)
    s = make_scorer(engine, runtime)
    cycles = [c for day in lake.dates("trades") for c in replay_day(s, lake, day)]
    served = signals_of(cycles)
    offline = offline_predictions(bars, engine, model)
    assert served.num_rows == bars.num_rows
    keys = zip(served.column("symbol").to_pylist(), served.column("ts").cast(pa.int64()).to_pylist(), strict=True)
    got = np.array([offline[k] for k in keys])
    source = np.array(served.column("source").to_pylist())
    assert set(source) <= {"model", "breaker"} and (source == "model").mean() > 0.9
    p_up = served.column("p_up").to_numpy()
    model = source == "model"
    np.testing.assert_allclose(p_up[model], got[model].astype(np.float32), rtol=0, atol=1e-6)
    assert np.all(p_up[~model] == 0.5)  # a tripped breaker neutralizes the cycle (its own test checks when)


def test_compiled_trees_equal_lightgbm(world, tmp_path):
    _, engine, _, model = world
    compiled = ModelRuntime(model, compile_trees=True, cache_dir=str(tmp_path))
    assert compiled.compiled
    X = np.random.default_rng(0).standard_normal((5000, len(engine.names)))
    X[:, engine.names.index("symbol_id")] = np.random.default_rng(1).integers(0, 40, 5000)
    np.testing.assert_allclose(compiled.predict(X), model.booster.predict(X), atol=1e-9)


def test_missing_or_failing_model_serves_the_fallback(world):
    lake, engine, _, model = world
    alerts = []
    s = make_scorer(engine, None)
    t = signals_of(replay_day(s, lake, lake.dates("trades")[0], alert=alerts.append))
    assert set(t.column("source").to_pylist()) == {"fallback"}
    p = t.column("p_up").to_numpy()
    assert 0.4 <= p.min() and p.max() <= 0.6 and p.std() > 0

    class Broken(ModelRuntime):
        def predict(self, X):
            raise RuntimeError("segfault in native code")

    s2 = make_scorer(engine, Broken(model, compile_trees=False))
    res = s2.advance(*_first_minute(lake))
    assert res[-1].source == "fallback" and any("segfault" in a for a in res[-1].alerts)

    class Slow(ModelRuntime):
        def predict(self, X):
            time.sleep(0.05)
            return super().predict(X)

    s3 = make_scorer(engine, Slow(model, compile_trees=False), model_budget_ms=20)
    res = s3.advance(*_first_minute(lake))
    assert res[-1].source == "fallback" and any("> 20 ms; fallback served" in a for a in res[-1].alerts)


def _first_minute(lake):
    day = lake.dates("bars_1m")[0]
    bars = lake.read("bars_1m", [day])
    t = int(bars.column("ts").cast(pa.int64()).to_numpy().min())
    return t, bars.filter(pa.compute.equal(bars.column("ts").cast(pa.int64()), t))


def test_breaker_trips_on_degenerate_predictions_and_resets(world):
    lake, engine, _, model = world

    class Stuck(ModelRuntime):
        def predict(self, X):
            return np.full(len(X), 0.97)

    alerts = []
    s = make_scorer(engine, Stuck(model, compile_trees=False), breaker=CircuitBreaker(trip_after=3, reset_after=2))
    cycles = [c for c in replay_day(s, lake, lake.dates("trades")[0], alert=alerts.append) if c.symbols]
    sources = [c.source for c in cycles]
    assert sources[:2] == ["model", "model"] and "breaker" in sources
    assert all(x == "breaker" for x in sources[3:])
    assert all((c.p_up == 0.5).all() for c in cycles if c.source == "breaker")
    assert any("tripped" in a for a in alerts)
    healthy = CircuitBreaker(trip_after=1, reset_after=2)
    assert healthy.update(np.full(10, 0.99))[1] == "tripped"
    healthy.update(np.linspace(0.3, 0.7, 10))
    assert healthy.update(np.linspace(0.3, 0.7, 10)) == (False, "reset")
    flat = CircuitBreaker(trip_after=2)  # centred, half above 0.5: only the spread across names shows it
    ties = 0.5 + np.r_[-1, 1] * 1e-6
    assert flat.healthy(np.linspace(0.45, 0.55, 50)) and flat.healthy(np.tile(ties, 5))  # 10 names may agree
    assert flat.update(np.tile(ties, 25)) == (False, None) and flat.update(np.tile(ties, 25)) == (True, "tripped")
    assert not flat.healthy(np.full(50, np.nan))


def test_refuses_a_model_from_another_feature_set(world):
    _, engine, _, model = world
    model.feature_set_version, old = "deadbeef0000", model.feature_set_version
    try:
        with pytest.raises(ModelRefused, match="deadbeef0000"):
            make_scorer(engine, ModelRuntime(model, compile_trees=False))
    finally:
        model.feature_set_version = old


def test_a_feature_set_without_the_fallbacks_inputs_fails_at_start_naming_them():
    from features.kernels import default_kernels

    kernels = [k for k in default_kernels() if "rv_ewm_30" not in [s.name for s in k.outputs()]]
    with pytest.raises(ValueError, match="rv_ewm_30"):
        Scorer(FeatureEngine(kernels=kernels))


def test_the_fallback_reads_the_columns_its_feature_set_declares():
    from features.kernels import default_kernels

    engine = FeatureEngine(kernels=default_kernels(), fallback_inputs={"momentum": "roc_1", "volatility": "rv_ewm_5"})
    scorer = Scorer(engine)
    rows = np.zeros((1, len(engine.names)))
    rows[0, engine.names.index("roc_1")], rows[0, engine.names.index("rv_ewm_5")] = 0.01, 0.002
    rows[0, engine.names.index("roc_5")] = -0.05  # the default's input: must not be read
    assert scorer.fallback(rows)[0] > 0.5
    with pytest.raises(ValueError, match="volatility"):
        Scorer(FeatureEngine(kernels=default_kernels(), fallback_inputs={"momentum": "roc_1"}))


def test_live_start_takes_the_batch_state_from_before_the_session(world, tmp_path):
    """Kafka mode without a checkpoint: the state `features_1m` left after the last earlier session, never the
    session's own or a later one, and a cold engine (said so) when the lake has none."""
    from features.batch import fold
    from features.state_io import dumps
    from serving.app.runtime import start_live

    lake, engine, _, _ = world
    d1, d2 = lake.dates("bars_1m")[:2]
    states = Lake(str(tmp_path / "lake"))  # where the asset writes: engine_state/date=<day>/state.npz
    s = make_scorer(engine)
    assert "starting cold" in start_live(s, states, d2) and s.online.state.symbols == [] and s.last_minute == 0
    _, st = fold(engine, lake.read("bars_1m", [d1]))
    for day, blob in ((d1, dumps(st)), (d2, b"the session's own state must not be read")):
        path = f"{states.path('engine_state', day)}/state.npz"
        states.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        with states.fs.open_output_stream(path) as f:
            f.write(blob)
    assert str(d1) in start_live(s, states, d2)
    assert s.online.state.symbols == st.symbols and s.last_minute == st.last_ts > 0
    assert "starting cold" in start_live(make_scorer(engine), states, d1)


def test_a_lost_quote_feed_alerts_within_minutes_and_when_it_is_back(tmp_path):
    """The spread features keep a symbol's last usable quote, so a feed lost leaves them stale, not missing: the
    scorer watches the bars' two-sided quotes beside the features (serving.step.feature_health)."""
    lake = Lake(str(tmp_path / "lake"))
    simulate_to_lake(SimConfig(symbols=40, days=1, seed=8), lake)
    day = lake.dates("bars_1m")[0]
    bars = lake.read("bars_1m", [day])
    ts = bars.column("ts").cast(pa.int64()).to_numpy()
    minutes = np.unique(ts)
    lost = (ts >= minutes[120]) & (ts < minutes[180])  # an hour without quotes, from the 121st minute
    for k in ("bid", "ask", "bid_size", "ask_size"):
        bars = bars.set_column(bars.schema.get_field_index(k), k, pa.array(bars.column(k).to_numpy(), mask=lost))
    lake.write_partition("bars_1m", day, bars)
    engine = FeatureEngine(lake.read("reference"), lake.read("corporate_actions"))
    alerts: list[str] = []
    s = make_scorer(engine)
    replay_day(s, lake, day, use_ticks=False, alert=alerts.append)
    assert len(alerts) == 2, alerts  # the spread features stayed put: only the quotes tell
    assert alerts[0].startswith("two-sided quote missing for 100% of") and alerts[0].endswith(f"at {minutes[122]}")
    assert alerts[1].startswith("two-sided quote back: missing for 0% of") and alerts[1].endswith(f"at {minutes[180]}")
    assert s.health.missing == []

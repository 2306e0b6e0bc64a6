"""The HTTP API answers from the scorer's state; a new champion is loaded off the hot path and swapped in."""

import json
import urllib.request

import numpy as np
import pytest

from features.engine import FeatureEngine
from marketdata.lake import Lake
from marketdata.pipeline import simulate_to_lake
from marketdata.simulator import SimConfig
from modeling import registry
from serving.app.alerting import LiveAlerts
from serving.app.http_api import Metrics, serve_http
from serving.app.reload import ChampionWatcher
from serving.app.replay import replay_loop
from serving.app.runtime import health
from serving.inference.model_runtime import ModelRuntime
from serving.step.scorer import Scorer
from tests.serving.helpers import trained_model


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    simulate_to_lake(SimConfig(symbols=20, days=1, seed=2), Lake(str(root / "lake")))
    lake = Lake(str(root / "lake"))
    engine = FeatureEngine(lake.read("reference"), lake.read("corporate_actions"))
    return lake, engine, trained_model(lake.read("bars_1m"), engine, rounds=10), f"sqlite:///{root}/mlflow.db"


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_http_api(world):
    lake, engine, model, _ = world
    s = Scorer(engine, ModelRuntime(model, compile_trees=False))
    metrics = Metrics()
    loop = replay_loop(s, lake, lake.dates("bars_1m")[0])
    loop.outputs.observers.append(metrics.observe)
    alerts = LiveAlerts(None)
    server = serve_http(lambda: health(s, loop.outputs.store, loop, alerts), loop.outputs.latest, metrics, port=0)
    port = server.server_address[1]
    try:
        while not loop.source.exhausted:
            loop.poll_once()
        code, body = get(port, "/health")
        h = json.loads(body)
        assert code == 200 and h["model_version"] == "1" and h["cycles"] > 300 and h["status"] == "ok"
        code, body = get(port, "/signals/SPY")
        assert code == 200 and 0 < json.loads(body)["p_up"] < 1
        assert len(json.loads(get(port, "/signals")[1])) == 20
        assert get(port, "/signals/NOPE")[0] == 404
        code, body = get(port, "/metrics")
        assert code == 200 and b'tickwise_cycle_stage_ms_bucket{le="50.0",stage="inference"}' in body
    finally:
        server.shutdown()


def test_hot_reload_swaps_between_cycles_and_refuses_foreign_feature_sets(world):
    lake, engine, model, uri = world
    s = Scorer(engine)
    v1 = registry.register(model.booster, {}, {"logloss": 0.69}, engine.version, {}, uri)
    registry.promote(v1, uri)
    alerts = []
    w = ChampionWatcher(s, uri, compile_trees=False, alert=alerts.append)
    assert w.check_once() == v1
    assert s.model is None  # offered, not yet swapped: the swap happens between cycles
    s.advance(*_minute(lake))
    assert s.model is not None and s.model.version == v1
    assert w.check_once() is None  # nothing new
    v2 = registry.register(model.booster, {}, {"logloss": 0.69}, "feedfacecafe", {}, uri)
    registry.promote(v2, uri)
    assert w.check_once() is None and any("feedfacecafe" in a for a in alerts)
    assert s.model.version == v1


def _minute(lake):
    import pyarrow as pa

    bars = lake.read("bars_1m", [lake.dates("bars_1m")[0]])
    t = int(bars.column("ts").cast(pa.int64()).to_numpy().min())
    return t, bars.filter(pa.compute.equal(bars.column("ts").cast(pa.int64()), t))


def test_registry_roundtrip_verifies_the_checksum(world, tmp_path):
    _, engine, model, uri = world
    table = {"symbol_id": ["SPY", "AAPL"], "sector_id": ["XLK"]}
    v = registry.register(
        model.booster, {"x": 1}, {"logloss": 0.69, "bad": float("nan")}, engine.version, {}, uri, codes=table
    )
    loaded = registry.load(v, uri)
    X = np.random.default_rng(0).standard_normal((50, len(engine.names)))
    np.testing.assert_array_equal(loaded.booster.predict(X), model.booster.predict(X))
    assert loaded.feature_set_version == engine.version and loaded.trees == model.trees
    assert loaded.codes == table
    assert registry.load(registry.register(model.booster, {}, {}, engine.version, {}, uri), uri).codes is None

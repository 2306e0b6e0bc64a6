"""Start warm: the compiled code a cycle runs is loaded before the first minute, not during it.

numba loads each compiled function from its on-disk cache at its first call, and the engine's online step takes
two such loads (~30 ms each here) on its first minutes — the first cycles of a fresh process ran 30-35 ms of
features against ~0.5 ms after. :func:`warm_up` steps a throwaway copy of the feature set over a tiny simulated
market (two sessions: the batch fold of one, three online minutes of the next), and predicts once with the model,
so the process pays those loads at start-up.
"""

import logging
import time

import numpy as np

from features.batch import fold
from features.engine import FeatureEngine
from features.online import OnlineFeatures, minutes_of
from marketdata.simulator import MarketSimulator, SimConfig
from serving.inference.model_runtime import ModelRuntime

log = logging.getLogger(__name__)


def warm_up(engine: FeatureEngine, model: ModelRuntime | None = None) -> float:
    """Load what the engine's step (and the model's predict) compiles; returns the seconds it took."""
    t0 = time.perf_counter()
    sim = MarketSimulator(SimConfig(symbols=13, days=2, seed=1))
    first, second = sim.days()
    twin = FeatureEngine(
        sim.reference(), sim.corporate_actions(), kernels=engine.kernels, step_threads=engine.step_threads
    )
    _, state = fold(twin, first.bars)
    online = OnlineFeatures(twin, state)
    for ts, bars in list(minutes_of(second.bars))[:3]:
        online.on_minute(ts, bars)
        online.prepare()
    if model is not None:
        model.predict(np.zeros((64, len(engine.names)), np.float32))
    took = time.perf_counter() - t0
    log.info("warmed up in %.2f s", took)
    return took

"""A scorer that starts while a quote feed is already down: its health monitor learns the usual shares from the
batch path's last session, so the outage alerts within minutes instead of becoming the norm."""

import numpy as np
import pyarrow as pa

from features.batch import fold
from features.engine import FeatureEngine
from features.state_io import dumps, loads
from marketdata.lake import Lake
from marketdata.pipeline import simulate_to_lake
from marketdata.simulator import SimConfig
from serving.app.replay import replay_day
from serving.app.runtime import restore_engine_state
from serving.step.feature_health import usual_shares
from tests.serving.test_scorer import make_scorer


def test_an_outage_under_way_at_start_up_alerts_when_the_monitor_is_seeded(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    simulate_to_lake(SimConfig(symbols=40, days=2, seed=8), lake)
    d1, d2 = lake.dates("bars_1m")
    engine = FeatureEngine(lake.read("reference"), lake.read("corporate_actions"))
    feats, st = fold(engine, lake.read("bars_1m", [d1]))
    lake.write_partition("features_1m", d1, feats)
    path = f"{lake.path('engine_state', d1)}/state.npz"
    lake.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with lake.fs.open_output_stream(path) as f:
        f.write(dumps(st))
    bars = lake.read("bars_1m", [d2])
    ts = bars.column("ts").cast(pa.int64()).to_numpy()
    minutes = np.unique(ts)
    lost = ts < minutes[60]  # the feed is down from the open for an hour
    for k in ("bid", "ask", "bid_size", "ask_size"):
        bars = bars.set_column(bars.schema.get_field_index(k), k, pa.array(bars.column(k).to_numpy(), mask=lost))
    lake.write_partition("bars_1m", d2, bars)

    seeded: list[str] = []
    s = make_scorer(engine)
    assert restore_engine_state(s, lake, d2) == d1
    usual = dict(zip(s.health.names, s.health.usual, strict=True))
    assert usual["two-sided quote"] < 0.05 and usual["rsi_14"] == 0.0  # the last hour of a day with quotes
    replay_day(s, lake, d2, use_ticks=False, alert=seeded.append)
    assert len(seeded) == 2, seeded
    assert seeded[0].startswith("two-sided quote missing for 100% of") and seeded[0].endswith(f"at {minutes[2]}")
    assert seeded[1].startswith("two-sided quote back") and seeded[1].endswith(f"at {minutes[60]}")

    learned: list[str] = []  # the same start without the batch path's session: the outage becomes the norm
    s = make_scorer(engine)
    s.online.state, s.last_minute = loads(dumps(st)), st.last_ts
    replay_day(s, lake, d2, use_ticks=False, alert=learned.append)
    assert learned == []


def test_usual_shares_skip_the_open_and_odd_minutes():
    ts = np.repeat(np.arange(100), 50)
    miss = np.zeros((len(ts), 2), bool)
    miss[ts < 30, 0] = True  # warming up through the first half hour
    miss[(ts == 90), 1] = True  # one odd minute
    assert usual_shares(ts, miss).tolist() == [0.0, 0.0]
    assert usual_shares(ts, miss, minutes=100).tolist() == [0.0, 0.0]
    miss[ts >= 50, 1] = True
    assert usual_shares(ts, miss).tolist() == [0.0, 1.0]


def test_a_scorer_refuses_the_lake_state_of_another_feature_set(tmp_path):
    """After an upgrade that changed a definition (here FFD's d), the lake's state is not continued: the scorer
    says whose state it is and how to recompute it."""
    import pytest

    from features.engine import StateMismatch, default_kernels
    from features.kernels.ffd import FFD

    lake = Lake(str(tmp_path / "lake"))
    simulate_to_lake(SimConfig(symbols=20, days=2, seed=9), lake)
    d1, d2 = lake.dates("bars_1m")
    _, st = fold(FeatureEngine(lake.read("reference")), lake.read("bars_1m", [d1]))
    path = f"{lake.path('engine_state', d1)}/state.npz"
    lake.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with lake.fs.open_output_stream(path) as f:
        f.write(dumps(st))
    kernels = [FFD(0.3) if k.name == "ffd" else k for k in default_kernels()]
    s = make_scorer(FeatureEngine(lake.read("reference"), kernels=kernels))
    with pytest.raises(StateMismatch, match=f"the lake.s engine state after {d1}: .*materialize features_1m"):
        restore_engine_state(s, lake, d2)
    assert restore_engine_state(make_scorer(FeatureEngine(lake.read("reference"))), lake, d2) == d1

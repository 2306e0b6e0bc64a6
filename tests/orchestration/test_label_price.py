"""The label price setting: labels made on it record it, a training window refuses days made on another."""

import datetime as dt

import dagster as dg
import pytest

from assets.modeling import label_price_of
from marketdata.lake import Lake
from marketdata.pipeline import simulate_to_lake
from marketdata.simulator import SimConfig
from modeling.labels import LabelConfig, make_labels
from orchestration.definitions import build_definitions
from orchestration.settings import TickwiseSettings

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
RANGE = {"dagster/asset_partition_range_start": "2026-03-02", "dagster/asset_partition_range_end": "2026-03-03"}


def settings(root, price: str) -> TickwiseSettings:
    return TickwiseSettings(
        lake=str(root / "lake"),
        landing=str(root / "landing"),
        partitions_start=dt.date(2026, 3, 2),
        partitions_end=dt.date(2026, 3, 5),
        window_days=2,
        label_price=price,
    )


def materialize(s: TickwiseSettings, instance, keys: list[str], **kw):  # type: ignore[no-untyped-def]
    job = build_definitions(s).resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance, run_config=QUIET, asset_selection=[dg.AssetKey(k) for k in keys], **kw
    )


def test_a_bad_label_price_names_the_field():
    with pytest.raises(ValueError, match="label_price"):
        TickwiseSettings(label_price="last")


def test_labels_on_the_mid_are_recorded_and_a_window_never_mixes_prices(tmp_path):
    simulate_to_lake(SimConfig(symbols=30, days=2, seed=5), Lake(str(tmp_path / "landing")), ticks=True)
    mid, close = settings(tmp_path, "mid"), settings(tmp_path, "close")
    lk = Lake(mid.lake)
    with dg.instance_for_test() as instance:
        materialize(mid, instance, ["reference", "corporate_actions"])
        keys = ["raw_trades", "raw_quotes", "bars_1m", "features_1m", "triple_barrier_labels"]
        assert materialize(mid, instance, keys, tags=RANGE).success
        for day in (dt.date(2026, 3, 2), dt.date(2026, 3, 3)):
            want = make_labels(lk.read("bars_1m", [day]), LabelConfig(price="mid"))
            assert lk.read("labels", [day]).equals(want)
            assert not want.equals(make_labels(lk.read("bars_1m", [day])))  # tick bars: the prices differ
        assert label_price_of(lk, ["2026-03-02", "2026-03-03"]) == {"2026-03-02": "mid", "2026-03-03": "mid"}
        assert materialize(mid, instance, ["training_dataset"], partition_key="2026-03-03").success
        # the setting switched back to the close: a window of mid labels is refused, naming the days and the fix
        r = materialize(close, instance, ["training_dataset"], partition_key="2026-03-03", raise_on_error=False)
        assert not r.success
        failure = next(e for e in r.all_events if e.event_type_value == "STEP_FAILURE")
        msg = failure.step_failure_data.error.message
        assert "2026-03-02, 2026-03-03 were made on the mid" in msg and "rematerialize triple_barrier_labels" in msg
        # one day relabelled on the close is not enough; both are
        assert materialize(close, instance, ["triple_barrier_labels"], partition_key="2026-03-03").success
        r = materialize(close, instance, ["training_dataset"], partition_key="2026-03-03", raise_on_error=False)
        assert not r.success
        assert materialize(close, instance, ["triple_barrier_labels"], partition_key="2026-03-02").success
        assert materialize(close, instance, ["training_dataset"], partition_key="2026-03-03").success

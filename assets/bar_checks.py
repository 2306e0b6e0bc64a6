"""Great Expectations suite for bars_1m, run as the asset's checks (values and thresholds in metadata)."""

import logging
from dataclasses import dataclass

import pandas as pd

MAX_HALTED_SHARE = 0.02
MAX_BARS_PER_SESSION = 390


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    metadata: dict[str, float | int | str]


def _suite():  # type: ignore[no-untyped-def]
    import great_expectations as gx

    e = gx.expectations
    suite = gx.ExpectationSuite(name="bars_1m")
    for name, exp in {
        "high_ge_close": e.ExpectColumnPairValuesAToBeGreaterThanB(column_A="high", column_B="close", or_equal=True),
        "high_ge_open": e.ExpectColumnPairValuesAToBeGreaterThanB(column_A="high", column_B="open", or_equal=True),
        "close_ge_low": e.ExpectColumnPairValuesAToBeGreaterThanB(column_A="close", column_B="low", or_equal=True),
        "open_ge_low": e.ExpectColumnPairValuesAToBeGreaterThanB(column_A="open", column_B="low", or_equal=True),
        "positive_low": e.ExpectColumnValuesToBeBetween(column="low", min_value=0, strict_min=True),
        "volume_nonneg": e.ExpectColumnValuesToBeBetween(column="volume", min_value=0),
        "unique_keys": e.ExpectCompoundColumnsToBeUnique(column_list=["symbol", "ts"]),
    }.items():
        exp.meta = {"check": name}
        suite.add_expectation(exp)
    return suite


def run_bar_checks(bars: pd.DataFrame) -> list[CheckOutcome]:
    """OHLC consistency, positive prices, non-negative volume, unique keys (GX); bars per session and the share
    of halted bars (computed directly: no GX expectation counts per group)."""
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = {"globally": False, "metric_calculations": False}  # type: ignore[assignment]
    asset = ctx.data_sources.add_pandas("lake").add_dataframe_asset("bars_1m")
    batch = asset.add_batch_definition_whole_dataframe("partition").get_batch(batch_parameters={"dataframe": bars})
    result = batch.validate(_suite())
    groups: dict[str, list] = {
        "ohlc_consistent": [],
        "positive_prices": [],
        "nonnegative_volume": [],
        "unique_keys": [],
    }
    which = {
        "high_ge_close": "ohlc_consistent",
        "high_ge_open": "ohlc_consistent",
        "close_ge_low": "ohlc_consistent",
        "open_ge_low": "ohlc_consistent",
        "positive_low": "positive_prices",
        "volume_nonneg": "nonnegative_volume",
        "unique_keys": "unique_keys",
    }
    for r in result.results:
        groups[which[r.expectation_config.meta["check"]]].append(r)
    out = []
    for name, rs in groups.items():
        bad = int(sum(r.result.get("unexpected_count", 0) or 0 for r in rs))
        out.append(
            CheckOutcome(name, all(r.success for r in rs), {"unexpected_rows": bad, "rows": len(bars), "threshold": 0})
        )
    per = bars.groupby(["symbol", bars["ts"].dt.date]).size() if len(bars) else pd.Series(dtype=int)
    top = int(per.max()) if len(per) else 0
    out.append(
        CheckOutcome(
            "bars_per_session",
            top <= MAX_BARS_PER_SESSION,
            {
                "max_bars_per_symbol_day": top,
                "median_bars_per_symbol_day": float(per.median()) if len(per) else 0.0,
                "threshold": MAX_BARS_PER_SESSION,
            },
        )
    )
    share = float(bars["halted"].mean()) if len(bars) else 0.0
    out.append(
        CheckOutcome("halted_share", share <= MAX_HALTED_SHARE, {"halted_share": share, "threshold": MAX_HALTED_SHARE})
    )
    return out


CHECK_NAMES = [
    "ohlc_consistent",
    "positive_prices",
    "nonnegative_volume",
    "unique_keys",
    "bars_per_session",
    "halted_share",
]

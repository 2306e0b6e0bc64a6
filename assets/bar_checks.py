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


_GROUP = {
    "high_ge_close": "ohlc_consistent",
    "high_ge_open": "ohlc_consistent",
    "close_ge_low": "ohlc_consistent",
    "open_ge_low": "ohlc_consistent",
    "positive_low": "positive_prices",
    "volume_nonneg": "nonnegative_volume",
    "unique_keys": "unique_keys",
}


class BarTally:
    """The suite's results summed a day at a time, so a range of partitions is checked without holding it: per
    check group the unexpected rows and whether every expectation passed, the bars of each (symbol, day) and the
    halted bars. Keys are unique within a day; a day partition holds one session, so that is all of them."""

    def __init__(self) -> None:
        import great_expectations as gx

        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        ctx = gx.get_context(mode="ephemeral")
        ctx.variables.progress_bars = {"globally": False, "metric_calculations": False}  # type: ignore[assignment]
        asset = ctx.data_sources.add_pandas("lake").add_dataframe_asset("bars_1m")
        self._batches, self._suite = asset.add_batch_definition_whole_dataframe("partition"), _suite()
        self.unexpected = dict.fromkeys(_GROUP.values(), 0)
        self.success = dict.fromkeys(_GROUP.values(), True)
        self.rows = self.halted = 0
        self.per_symbol_day: list[pd.Series] = []

    def add(self, bars: pd.DataFrame) -> "BarTally":
        """One day's bars (any rows: the suite runs on them, the counts are added)."""
        if not len(bars):
            return self
        result = self._batches.get_batch(batch_parameters={"dataframe": bars}).validate(self._suite)
        for r in result.results:
            group = _GROUP[r.expectation_config.meta["check"]]
            self.unexpected[group] += int(r.result.get("unexpected_count", 0) or 0)
            self.success[group] &= bool(r.success)
        self.rows += len(bars)
        self.halted += int(bars["halted"].sum())
        self.per_symbol_day.append(bars.groupby(["symbol", bars["ts"].dt.date]).size())
        return self

    def outcomes(self) -> list[CheckOutcome]:
        out = [
            CheckOutcome(g, self.success[g], {"unexpected_rows": self.unexpected[g], "rows": self.rows, "threshold": 0})
            for g in self.unexpected
        ]
        per = pd.concat(self.per_symbol_day) if self.per_symbol_day else pd.Series(dtype=int)
        top = int(per.max()) if len(per) else 0
        md = {
            "max_bars_per_symbol_day": top,
            "median_bars_per_symbol_day": float(per.median()) if len(per) else 0.0,
            "threshold": MAX_BARS_PER_SESSION,
        }
        out.append(CheckOutcome("bars_per_session", top <= MAX_BARS_PER_SESSION, md))
        share = self.halted / self.rows if self.rows else 0.0
        md = {"halted_share": share, "threshold": MAX_HALTED_SHARE}
        out.append(CheckOutcome("halted_share", share <= MAX_HALTED_SHARE, md))
        return out


def run_bar_checks(bars: pd.DataFrame) -> list[CheckOutcome]:
    """OHLC consistency, positive prices, non-negative volume, unique keys (GX); bars per session and the share
    of halted bars (computed directly: no GX expectation counts per group)."""
    return BarTally().add(bars).outcomes()


CHECK_NAMES = {  # each check and what it asserts (shown as its description in Dagster)
    "ohlc_consistent": "Every bar's high is at least its open and close, and its low at most both.",
    "positive_prices": "Every bar's low price is above zero.",
    "nonnegative_volume": "No bar has a negative volume.",
    "unique_keys": "At most one bar per (symbol, minute).",
    "bars_per_session": f"No symbol has more than {MAX_BARS_PER_SESSION} bars in a session.",
    "halted_share": f"At most {MAX_HALTED_SHARE:.0%} of the bars are flagged halted.",
}

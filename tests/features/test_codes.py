"""A training window's code tables: the newest day's, and only when every day was coded by the same pipeline."""

import json

import pytest

from features import codes


def md(symbols: list[str], sectors: list[str]) -> dict[bytes, bytes]:
    return {
        b"tickwise.symbol_codes": json.dumps(symbols).encode(),
        b"tickwise.sector_codes": json.dumps(sectors).encode(),
    }


def test_the_window_takes_the_newest_days_tables():
    days = {"2026-03-03": md(["SPY", "A"], ["XLK"]), "2026-03-04": md(["SPY", "A", "B"], ["XLK"])}
    assert codes.of_days(days) == {"symbol_id": ["SPY", "A", "B"], "sector_id": ["XLK"]}
    assert codes.of_days({}) == {}
    assert codes.from_metadata({"tickwise.symbol_codes": '["SPY"]'}) == {"symbol_id": ["SPY"]}


def test_a_day_coded_by_another_pipeline_is_refused():
    days = {"2026-03-03": md(["A", "SPY"], ["XLK"]), "2026-03-04": md(["SPY", "A", "B"], ["XLK"])}
    with pytest.raises(ValueError, match="features_1m of 2026-03-03 codes symbol_id differently from 2026-03-04"):
        codes.of_days(days)

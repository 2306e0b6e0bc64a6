"""Daily partitions that are NYSE sessions: weekdays, with exchange holidays excluded."""

import datetime as dt

import dagster as dg

from marketdata.calendar import holidays


def trading_day_partitions(start: dt.date, end: dt.date | None = None) -> dg.TimeWindowPartitionsDefinition:
    """One partition per trading day from ``start`` (to ``end`` exclusive, or today)."""
    last = end or dt.datetime.now(dt.UTC).date()
    years = range(start.year, last.year + 1)
    excluded = sorted(
        dt.datetime.combine(h, dt.time(), dt.UTC) for y in years for h in holidays(y) if start <= h < last
    )
    return dg.TimeWindowPartitionsDefinition(
        start=dt.datetime.combine(start, dt.time(), dt.UTC),
        end=dt.datetime.combine(end, dt.time(), dt.UTC) if end else None,
        fmt="%Y-%m-%d",
        cron_schedule="0 0 * * 1-5",
        timezone="UTC",
        exclusions=excluded,
    )

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
    end_dt = None
    if end is not None:  # a weekday partition's window runs to the next weekday: end there, after the last day
        last_day = end - dt.timedelta(days=1)
        while last_day.weekday() >= 5:
            last_day -= dt.timedelta(days=1)
        nxt = last_day + dt.timedelta(days=1)
        while nxt.weekday() >= 5:
            nxt += dt.timedelta(days=1)
        end_dt = dt.datetime.combine(nxt, dt.time(), dt.UTC)
    return dg.TimeWindowPartitionsDefinition(
        start=dt.datetime.combine(start, dt.time(), dt.UTC),
        end=end_dt,
        end_offset=1,  # the current session's partition exists while it trades (a Friday's window closes Monday)
        fmt="%Y-%m-%d",
        cron_schedule="0 0 * * 1-5",
        timezone="UTC",
        exclusions=excluded,
    )

"""US equity trading calendar (NYSE rules): sessions, holidays, early closes, 1-minute bar stamps in UTC.

Holidays follow the exchange's rules (observed weekend shifts, Good Friday from Easter) so any year works
without a downloaded calendar. Regular session 09:30-16:00 New York; early close 13:00 on the day after
Thanksgiving, Christmas Eve and July 3 when they are weekdays.
"""

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

NY = ZoneInfo("America/New_York")
UTC = dt.UTC
OPEN = dt.time(9, 30)
CLOSE = dt.time(16, 0)
EARLY_CLOSE = dt.time(13, 0)


def _easter(year: int) -> dt.date:
    """Gregorian Easter Sunday (anonymous algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month = (h + l_ - 7 * m + 114) // 31
    day = (h + l_ - 7 * m + 114) % 31 + 1
    return dt.date(year, month, day)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    delta = (weekday - first.weekday()) % 7
    return first + dt.timedelta(days=delta + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> dt.date:
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def _observed(d: dt.date) -> dt.date:
    if d.weekday() == 5:
        return d - dt.timedelta(days=1)
    if d.weekday() == 6:
        return d + dt.timedelta(days=1)
    return d


@lru_cache(maxsize=64)
def holidays(year: int) -> frozenset[dt.date]:
    """NYSE full-day holidays of ``year``."""
    days = {
        _nth_weekday(year, 1, 0, 3),  # Martin Luther King Jr. Day
        _nth_weekday(year, 2, 0, 3),  # Washington's Birthday
        _easter(year) - dt.timedelta(days=2),  # Good Friday
        _last_weekday(year, 5, 0),  # Memorial Day
        _observed(dt.date(year, 7, 4)),
        _nth_weekday(year, 9, 0, 1),  # Labor Day
        _nth_weekday(year, 11, 3, 4),  # Thanksgiving
        _observed(dt.date(year, 12, 25)),
    }
    ny = dt.date(year, 1, 1)
    if ny.weekday() != 5:  # a Saturday New Year is not observed on the Friday before (NYSE rule 7.2)
        days.add(_observed(ny))
    if year >= 2022:
        days.add(_observed(dt.date(year, 6, 19)))  # Juneteenth
    return frozenset(days)


def is_session(d: dt.date) -> bool:
    """True if ``d`` is a trading day."""
    return d.weekday() < 5 and d not in holidays(d.year)


def close_time(d: dt.date) -> dt.time:
    """Local close time of session ``d``."""
    thanksgiving = _nth_weekday(d.year, 11, 3, 4)
    early = {thanksgiving + dt.timedelta(days=1), dt.date(d.year, 12, 24), dt.date(d.year, 7, 3)}
    return EARLY_CLOSE if d in early and is_session(d) else CLOSE


def sessions(start: dt.date, count: int) -> list[dt.date]:
    """The first ``count`` trading days on or after ``start``."""
    out: list[dt.date] = []
    d = start
    while len(out) < count:
        if is_session(d):
            out.append(d)
        d += dt.timedelta(days=1)
    return out


@lru_cache(maxsize=512)
def session_bounds_ns(d: dt.date) -> tuple[int, int]:
    """Open and close of session ``d`` as UTC epoch nanoseconds (cached: the feature engine asks every minute)."""
    o = dt.datetime.combine(d, OPEN, NY).astimezone(UTC)
    c = dt.datetime.combine(d, close_time(d), NY).astimezone(UTC)
    return int(o.timestamp()) * 1_000_000_000, int(c.timestamp()) * 1_000_000_000


def bar_stamps(d: dt.date) -> np.ndarray:
    """End stamps (UTC epoch ns, int64) of the session's 1-minute bars: open+1 min ... close."""
    o, c = session_bounds_ns(d)
    return np.arange(o + 60_000_000_000, c + 1, 60_000_000_000, dtype=np.int64)


def session_of(ts_ns: np.ndarray) -> np.ndarray:
    """Session date (datetime64[D]) of UTC epoch-ns bar stamps.

    Regular sessions run 13:30-21:00 UTC at the latest, so a bar's UTC date is its New York session date.
    """
    return np.asarray(ts_ns, dtype=np.int64).astype("datetime64[ns]").astype("datetime64[D]")

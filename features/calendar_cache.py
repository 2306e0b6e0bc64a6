"""Session opens, cached: the engine needs one per minute it steps."""

import datetime as dt
import functools

from marketdata.calendar import session_bounds_ns


@functools.lru_cache(maxsize=256)
def open_ns(day: dt.date) -> int:
    """The regular session's open of ``day`` as UTC epoch nanoseconds."""
    return session_bounds_ns(day)[0]

"""Context columns computed from the clock and the registry; they are never frozen by a halt."""

import numpy as np

CONTEXT_FEATURES = (
    "minutes_since_open",
    "tod_sin",
    "tod_cos",
    "day_of_week",
    "halted",
    "stale_minutes",
    "symbol_id",
    "sector_id",
)
CONTEXT_BOUNDS = {
    "minutes_since_open": (0, 391),
    "tod_sin": (-1, 1),
    "tod_cos": (-1, 1),
    "day_of_week": (0, 4),
    "halted": (0, 1),
    "stale_minutes": (0, 1e6),
    "symbol_id": (0, 1e7),
    "sector_id": (-1, 1000),
}


def context_columns(
    minute: int, weekday: int, halted: np.ndarray, stale: np.ndarray, symbol_id: np.ndarray, sector_id: np.ndarray
) -> np.ndarray:
    """``(n, 8)`` context values for the rows given.

    >>> context_columns(195, 2, np.array([False]), np.array([0.0]), np.array([7]), np.array([3])).round(3).tolist()
    [[195.0, 0.0, -1.0, 2.0, 0.0, 0.0, 7.0, 3.0]]
    """
    n = len(halted)
    angle = 2 * np.pi * minute / 390.0
    out = np.empty((n, len(CONTEXT_FEATURES)))
    out[:, 0] = minute
    out[:, 1] = np.sin(angle)
    out[:, 2] = np.cos(angle)
    out[:, 3] = weekday
    out[:, 4] = halted
    out[:, 5] = stale
    out[:, 6] = symbol_id
    out[:, 7] = sector_id
    return out

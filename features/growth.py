"""Symbol-axis state that grows in place: registering symbols appends them without copying everyone's state.

Every state array has the symbol on its last axis. Each one is a prefix view of a buffer with room for half as
many symbols again. A registration writes the newcomers into that room. Only when the room runs out is the whole
array copied, into a buffer half again as large. Before this, every minute with a new symbol copied the ~80 MB
state of 5,000 symbols (30–50 ms a minute at a cold start's open).

A prefix of the last axis is contiguous for 1-D and column-major arrays, so compiled code sees the same array
type. Row-major 2-D arrays are concatenated as before, because their prefix would not be contiguous.
"""

import numpy as np

MIN_ROOM = 16


def append_symbols(cur: np.ndarray | None, new: np.ndarray, fortran: bool) -> np.ndarray:
    """``cur`` with ``new``'s symbols appended on the last axis (``new`` alone when ``cur`` is None or empty);
    ``fortran``: the array is column-major."""
    if cur is None or cur.shape[-1] == 0:
        return _room(None, new, fortran)
    if cur.ndim > 1 and not fortran:
        return np.concatenate([cur, new], axis=-1)
    n, m = cur.shape[-1], new.shape[-1]
    base = cur.base
    if (
        isinstance(base, np.ndarray)
        and base.shape[:-1] == cur.shape[:-1]
        and base.shape[-1] >= n + m
        and base.dtype == cur.dtype
        and base.strides == cur.strides
        and base.ctypes.data == cur.ctypes.data
    ):
        base[..., n : n + m] = new
        return base[..., : n + m]
    return _room(cur, new, fortran)


def _room(cur: np.ndarray | None, new: np.ndarray, fortran: bool) -> np.ndarray:
    """A fresh buffer with room to spare, holding ``cur`` then ``new``; the prefix view of what they fill."""
    n = 0 if cur is None else cur.shape[-1]
    total = n + new.shape[-1]
    cap = max(total + total // 2, MIN_ROOM)
    base = np.empty((*new.shape[:-1], cap), new.dtype, order="F" if fortran else "C")
    if cur is not None:
        base[..., :n] = cur
    base[..., n:total] = new
    return base[..., :total]

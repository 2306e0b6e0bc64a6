"""Between minutes, the memory the next online step reads, read once so that it is in the cache when the step
starts (:func:`features.fused.step.warm`, called by ``FeatureEngine.prepare``).

The step reads every symbol's state: its scalars, the current slot of each look-back ring, its last outputs, the
same-minute statistics of the coming minute and FFD's push slots. That is ~8-10 MB at 5,000 symbols. The previous
step, ``prepare``'s own FFD sums (~22 MB of windows) and whatever ran in between push it out of the caches, so the
step finds it in DRAM. Reading it here moves those misses off the step's path. The reads change nothing: they are
only a cache hint, like :func:`features.fused.rolling.prefetch`.
"""

from numba import njit


@njit(cache=True, _nrt=False)
def touch(floats, ints):
    """Read one value per 64-byte line of each array (1-D, contiguous); their sum, so that the reads stay."""
    s = 0.0
    for a in floats:
        for k in range(0, a.shape[0], 8):
            s += a[k]
    for a in ints:
        for k in range(0, a.shape[0], 8):
            s += a[k]
    return s


@njit(cache=True, _nrt=False)
def touch_slots(tod, m, buf, ptr):
    """Read each symbol's line of the same-minute statistics of minute ``m`` (``tod[:, m, i]``) and its two FFD
    ring slots the next push writes (``buf[ptr, i]`` and ``buf[ptr + k, i]``); their sum."""
    k = buf.shape[0] // 2
    s = 0.0
    for i in range(tod.shape[2]):
        s += tod[0, m, i] + buf[ptr, i] + buf[ptr + k, i]
    return s

"""The online step on two cores: the minute's per-symbol work shared between the caller and a helper thread.

Three of the step's four parts are per symbol (:func:`features.fused.core.minute`): stage 1 over the minute's
bars, FFD over the registry, stage 3 over the bars again. Each part's items are claimed by compare-and-swap on
one word holding the unclaimed range: the caller (``who == 0``) takes from the front, the helper (``who == 1``)
from the back, each a quarter of what is left (at least :data:`CHUNK`), so the claims are large while there is
much to share and small as the two meet, and each thread walks contiguous memory. A thread adds the items it
finished to the part's count. The caller opens each part, claims like the helper, and waits until every item is
finished before the next part; the serial work in between (the leaders, the cross-sectional rank) is its own,
done while the helper starts on FFD. An item computes the same per-symbol functions on the same operands whoever
runs it, so the rows are the same bits with one thread or two.

The helper is one thread per process (:class:`Helper`), woken by an event when a step starts. Waking (and
taking the GIL from the caller, which lets it go on entering the compiled minute) takes ~100-150 µs here, so it
joins a minute under way; whatever it does not claim the caller does. The caller never waits for the helper to
arrive, only for items the helper has claimed. A helper that arrives after its minute (``ctrl[GEN]`` has moved
on, or ``ctrl[DONE]`` is set) leaves without touching anything.
"""

import os
import threading

import numpy as np
from numba import njit

from features.fused.atomic import compare_swap, fetch_add, load, pause, store

CHUNK = 64  # the smallest claim: below it the claim costs more than it evens out
PARTS = 3  # stage 1, FFD, stage 3
GEN, DONE, IN, HELPER_ONLY, TWO, CH = 0, 1, 2, 3, 4, 5  # ctrl: minute number; finished; helper inside; (tests)
# the caller claims nothing; a helper may come; the smallest claim
RANGE, FIN, OPEN, SIZE = 6, 6 + PARTS, 6 + 2 * PARTS, 6 + 3 * PARTS  # + part: unclaimed range, finished, open, size
CTRL = 6 + 4 * PARTS
HALF = 32  # RANGE packs the unclaimed items [lo, hi) of a part as lo << HALF | hi, for one compare-and-swap


def new_ctrl() -> np.ndarray:
    """A control block; ``ctrl[GEN] == -1``: no minute under way."""
    c = np.zeros(CTRL, np.int64)
    c[GEN] = -1
    return c


def begin(
    ctrl: np.ndarray, sizes: tuple[int, int, int], two: bool, helper_only: bool = False, chunk: int = CHUNK
) -> int:
    """Reset ``ctrl`` for a new minute whose parts have ``sizes`` items (``two``: a helper may join); its number.
    The caller's helper must not be inside (``ctrl[IN] == 0``: :func:`end` waited for that). The order matters: a
    late helper reads ``DONE`` first, then ``GEN``, so it sees either the old minute finished or a number that is not
    its own. (Compiled: a dozen stores from Python cost ~40 µs of a step with its caches cold.)"""
    if len(sizes) != PARTS:
        raise ValueError(f"a minute has {PARTS} parts, got sizes {sizes!r}")
    return _begin(ctrl, sizes[0], sizes[1], sizes[2], two, helper_only and two, chunk)


@njit(cache=True, _nrt=False)
def _begin(ctrl, s0, s1, s2, two, helper_only, chunk):
    """:func:`begin`'s stores: the parts' ranges and counts, the mode, then the minute's number, then ``DONE``."""
    for part, size in enumerate((s0, s1, s2)):
        ctrl[RANGE + part] = size  # [0, size)
        ctrl[FIN + part] = 0
        ctrl[OPEN + part] = 0
        ctrl[SIZE + part] = size
    ctrl[HELPER_ONLY] = helper_only
    ctrl[TWO] = two
    ctrl[CH] = chunk
    gen = ctrl[GEN] + 1
    store(ctrl, GEN, gen)
    store(ctrl, DONE, 0)
    return gen


@njit(cache=True, inline="always")
def claim(ctrl, part, who):
    """The next claim of ``part`` as ``(lo, hi)``, or ``(-1, -1)`` when nothing is left. The caller takes from the
    front, the helper from the back, each a quarter of what is left (at least ``ctrl[CH]``): large claims while
    there is much to share, small ones as the two meet, so neither waits long for the other's last claim; each
    walks its own contiguous memory. Alone, the caller takes the whole part at once (and nothing while
    ``HELPER_ONLY`` is set: tests make the helper do every item that way)."""
    if who == 0 and ctrl[HELPER_ONLY] != 0:
        return -1, -1
    mask = (np.int64(1) << HALF) - 1
    while True:
        w = load(ctrl, RANGE + part)
        lo, hi = w >> HALF, w & mask
        if lo >= hi:
            return -1, -1
        take = hi - lo if ctrl[TWO] == 0 else min(hi - lo, max(ctrl[CH], (hi - lo) // 4))
        a, b = (lo, lo + take) if who == 0 else (hi - take, hi)
        rest = ((lo + take) << HALF | hi) if who == 0 else (lo << HALF | (hi - take))
        if compare_swap(ctrl, RANGE + part, w, rest):
            return a, b


@njit(cache=True, inline="always")
def finished(ctrl, part, lo, hi):
    """Items ``lo:hi`` of ``part`` done (their writes are visible to whoever sees the count)."""
    fetch_add(ctrl, FIN + part, hi - lo)


@njit(cache=True, inline="always")
def wait_all(ctrl, part):
    """The caller, after claiming all it could: wait until every item of ``part`` is finished."""
    n = ctrl[SIZE + part]
    while load(ctrl, FIN + part) < n:
        pause()


@njit(cache=True, inline="always")
def open_part(ctrl, part):
    store(ctrl, OPEN + part, 1)


@njit(cache=True, inline="always")
def enter(ctrl, gen):
    """The helper: True if minute ``gen`` is under way (it is then inside until :func:`leave`)."""
    fetch_add(ctrl, IN, 1)
    if load(ctrl, DONE) != 0 or load(ctrl, GEN) != gen:
        fetch_add(ctrl, IN, -1)
        return False
    return True


@njit(cache=True, inline="always")
def wait_open(ctrl, part):
    """The helper: wait until ``part`` opens; False if the minute finished first."""
    while load(ctrl, OPEN + part) == 0:
        if load(ctrl, DONE) != 0:
            return False
        pause()
    return True


@njit(cache=True, inline="always")
def leave(ctrl):
    fetch_add(ctrl, IN, -1)


@njit(cache=True, inline="always")
def end(ctrl):
    """The caller: the minute is finished; wait until the helper is out of it."""
    store(ctrl, DONE, 1)
    while load(ctrl, IN) != 0:
        pause()


class Helper:
    """The process's helper thread: :meth:`run` hands it a minute; it calls ``fn(*args, ctrl, 1, gen)``.

    One per process, shared by every engine: it takes the latest minute handed to it, so of two steps running at
    once on two threads (two engines) one may run alone. An error raised in the helper is kept and raised by the
    caller's :meth:`check`, never swallowed."""

    _lock = threading.Lock()
    _instance: "Helper | None" = None

    @classmethod
    def get(cls) -> "Helper":
        with cls._lock:
            if cls._instance is None:
                cls._instance = Helper()
            return cls._instance

    def __init__(self) -> None:
        self.wake = threading.Event()
        self.job: tuple | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True, name="tickwise-step")
        self.thread.start()

    def run(self, fn, args: tuple, ctrl: np.ndarray, gen: int) -> None:
        """Wake the helper for minute ``gen`` (returns at once)."""
        self.job = (fn, args, ctrl, gen)
        self.wake.set()

    def _serve(self) -> None:
        while True:
            self.wake.wait()
            self.wake.clear()
            job, self.job = self.job, None
            if job is None:
                continue
            fn, args, ctrl, gen = job
            try:
                fn(*args, ctrl, 1, gen)
            except BaseException as e:  # noqa: BLE001 - kept for the caller's check(), which raises it
                self.error = e
            del job, args  # the minute's arrays are not kept alive until the next one

    def check(self) -> None:
        err, self.error = self.error, None
        if err is not None:
            raise RuntimeError("the online step's helper thread failed") from err


def _forget_after_fork() -> None:
    """A forked child has no helper thread: its first step starts its own."""
    Helper._instance = None


os.register_at_fork(after_in_child=_forget_after_fork)

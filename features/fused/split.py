"""The online step on two cores: the minute's work cut into chunks of symbols that two threads claim.

Three of the step's four parts are per symbol (:func:`features.fused.core.minute`): stage 1 over the minute's
bars, FFD over the registry, stage 3 over the bars again. Each is cut into chunks of :data:`CHUNK`; a thread
claims the next chunk with an atomic add on the part's counter and, when done, adds one to the part's finished
count. The calling thread (``who == 0``) opens each part, claims chunks like anybody, and waits until every
claimed chunk is finished before the next part; the serial work in between (the leaders, the cross-sectional
rank) is its own, done while the helper thread starts on FFD. A chunk computes the same per-symbol functions on
the same operands whoever runs it, so the rows are the same bits with one thread or two.

The helper (``who == 1``) is one thread per process (:class:`Helper`), woken by an event when a step starts.
Waking takes ~70 µs here, so it joins a minute that is under way; whatever it does not claim the caller does.
It never waits for the helper to arrive, only for chunks the helper has claimed. A helper that arrives after
its minute (``ctrl[GEN]`` has moved on, or ``ctrl[DONE]`` is set) leaves without touching anything.
"""

import threading
import weakref

import numpy as np
from numba import njit

from features.fused.atomic import fetch_add, load, pause, store

CHUNK = 256  # symbols per claim: ~20 claims a part at 5,000 symbols
PARTS = 3  # stage 1, FFD, stage 3
GEN, DONE, IN, HELPER_ONLY, CH = 0, 1, 2, 3, 4  # ctrl: minute number; finished; helper inside; (tests) no claims;
# symbols a chunk
NEXT, FIN, OPEN, SIZE = 5, 5 + PARTS, 5 + 2 * PARTS, 5 + 3 * PARTS  # + part: claim counter, finished, open, size
CTRL = 5 + 4 * PARTS


def new_ctrl() -> np.ndarray:
    """A control block; ``ctrl[GEN] == -1``: no minute under way."""
    c = np.zeros(CTRL, np.int64)
    c[GEN] = -1
    return c


def begin(ctrl: np.ndarray, sizes: tuple[int, int, int], helper_only: bool = False, chunk: int = CHUNK) -> int:
    """Reset ``ctrl`` for a new minute whose parts have ``sizes`` items; its number. The caller's helper must not
    be inside (``ctrl[IN] == 0``: :func:`end` waited for that). The order matters: a late helper reads ``DONE``
    first, then ``GEN``, so it sees either the old minute finished or a number that is not its own."""
    ctrl[NEXT : NEXT + PARTS] = 0
    ctrl[FIN : FIN + PARTS] = 0
    ctrl[OPEN : OPEN + PARTS] = 0
    ctrl[SIZE : SIZE + PARTS] = sizes
    ctrl[HELPER_ONLY] = helper_only
    ctrl[CH] = chunk
    gen = int(ctrl[GEN]) + 1
    ctrl[GEN] = gen
    ctrl[DONE] = 0
    return gen


@njit(cache=True, inline="always")
def chunks(ctrl, part):
    """How many chunks ``part`` has."""
    return (ctrl[SIZE + part] + ctrl[CH] - 1) // ctrl[CH]


@njit(cache=True, inline="always")
def claim(ctrl, part, who, k):
    """Chunk ``(lo, hi)`` of ``part`` for a thread's ``k``-th claim in it, or ``(-1, -1)`` when none is left. Every
    claim takes a ticket (an atomic add); the caller's ``k``-th claim is the ``k``-th chunk from the front, the
    helper's from the back, so each walks its own contiguous memory and the two meet somewhere: a ticket past the
    last chunk means they have (the caller claims nothing while ``HELPER_ONLY`` is set: tests make the helper do
    every chunk that way)."""
    if who == 0 and ctrl[HELPER_ONLY] != 0:
        return -1, -1
    n = chunks(ctrl, part)
    if fetch_add(ctrl, NEXT + part, 1) >= n:
        return -1, -1
    c = k if who == 0 else n - 1 - k
    lo = c * ctrl[CH]
    return lo, min(lo + ctrl[CH], ctrl[SIZE + part])


@njit(cache=True, inline="always")
def finished(ctrl, part):
    """One more chunk of ``part`` done (its writes are visible to whoever sees the count)."""
    fetch_add(ctrl, FIN + part, 1)


@njit(cache=True, inline="always")
def wait_all(ctrl, part):
    """The caller, after claiming all it could: wait until every chunk of ``part`` is finished."""
    n = chunks(ctrl, part)
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
        self.thread = threading.Thread(target=_serve, args=(weakref.ref(self),), daemon=True, name="tickwise-step")
        self.thread.start()

    def run(self, fn, args: tuple, ctrl: np.ndarray, gen: int) -> None:
        """Wake the helper for minute ``gen`` (returns at once)."""
        self.job = (fn, args, ctrl, gen)
        self.wake.set()

    def check(self) -> None:
        err, self.error = self.error, None
        if err is not None:
            raise RuntimeError("the online step's helper thread failed") from err


def _serve(ref: "weakref.ref[Helper]") -> None:
    while True:
        h = ref()
        if h is None:
            return
        wake = h.wake
        del h
        wake.wait()
        wake.clear()
        h = ref()
        if h is None:
            return
        job, h.job = h.job, None
        if job is None:
            continue
        fn, args, ctrl, gen = job
        try:
            fn(*args, ctrl, 1, gen)
        except BaseException as e:  # noqa: BLE001 - kept for the caller's check(), which raises it
            h.error = e
        del h, job, args

"""Where the compiled engine's time goes, timed from inside: a cycle counter read between its stages.

The online step (:func:`features.fused.core.minute`) stamps the counter between its stages into its workspace;
the batch fold (:mod:`features.fused.fold`) adds each stage's ticks over the day into an accumulator. Reading the
counter costs ~13 ns here, so a minute pays ~0.2 µs and a day of 5,000 symbols ~1 ms. Stage costs measured this way
come from one run, so they are comparable with each other: the shared machine's phases (±30 % between runs minutes
apart) move them together instead of apart, as removing a stage and timing the whole in another process does.
"""

import functools
import time

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

KERNEL_STAGES = (  # stage 1's per-symbol kernels, in the order both paths run them
    "roc + rsi",
    "macd",
    "sma/ema + bollinger",
    "atr + rv + obv",
    "volume vs time of day",
    "vwap + spread/imbalance",
    "log price, rank key",
)
ONLINE_STAGES = ("prologue", *KERNEL_STAGES, "ffd", "leaders", "cross-sectional rank", "cross-asset + rows out")
OFFLINE_STAGES = ("prologue + context", *KERNEL_STAGES, "cross-asset", "ffd", "cross-sectional rank")


@intrinsic
def ticks(typingctx):
    """The CPU's cycle counter (LLVM's ``readcyclecounter``: RDTSC on x86, a constant rate there)."""

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(64), [])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.readcyclecounter")
        return builder.call(fn, [])

    return types.int64(), codegen


@njit(cache=True)
def now() -> int:
    """:func:`ticks`, callable from Python."""
    return ticks()


@functools.cache
def tick_rate() -> float:
    """Counter ticks per second, measured once against ``time.perf_counter`` over 50 ms."""
    now()  # compiled (or loaded) before the clocks are read
    t0, c0 = time.perf_counter(), now()
    time.sleep(0.05)
    t1, c1 = time.perf_counter(), now()
    rate = (c1 - c0) / (t1 - t0)
    if rate <= 0:
        raise RuntimeError("the cycle counter does not advance here: stage timings are unavailable")
    return rate


def seconds(names: tuple[str, ...], spent: np.ndarray) -> dict[str, float]:
    """Ticks spent per stage (``spent[k]`` for ``names[k]``) as seconds, by stage name."""
    rate = tick_rate()
    return {name: float(spent[k]) / rate for k, name in enumerate(names)}

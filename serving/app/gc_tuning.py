"""Keep the garbage collector's full passes off the hot path.

A long-running scorer holds a large, stable heap (engine state, model, symbol tables). CPython's generation-2
collections walk all of it and showed up as 40-90 ms stalls inside cycles. After start-up the stable heap is
frozen (``gc.freeze``: moved to a permanent generation the collector skips) and the young-generation threshold
raised; :func:`between_cycles` runs a cheap young collection when the scorer is idle, not inside a cycle.
"""

import gc


def freeze_heap(threshold0: int = 50_000) -> None:
    """Call once the scorer is built and warm (model loaded, first cycles run)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(threshold0, 50, 1000)


def between_cycles() -> None:
    gc.collect(0)

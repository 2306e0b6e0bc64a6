"""Keep the garbage collector's full passes off the hot path.

A long-running scorer holds a large, stable heap (engine state, model, symbol tables). CPython's generation-2
collections walk all of it and showed up as 40-90 ms stalls inside cycles. After start-up the stable heap is
frozen (``gc.freeze``: moved to a permanent generation the collector skips) and the young-generation threshold
raised; :func:`between_cycles` collects the young generations (0 and 1) when the scorer is idle, so the
automatic generation-1 pass (every 50 young passes, 40 ms here once ingest had promoted a minute of objects)
does not land inside a cycle, and every ``FULL_EVERY`` calls it also runs the full pass there.
"""

import gc


def freeze_heap(threshold0: int = 50_000) -> None:
    """Call once the scorer is built and warm (model loaded, first cycles run)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(threshold0, 50, 1000)


FULL_EVERY = 240
_calls = [0]


def between_cycles() -> None:
    _calls[0] += 1
    gc.collect(2 if _calls[0] % FULL_EVERY == 0 else 1)

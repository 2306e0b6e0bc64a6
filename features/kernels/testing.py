"""A tiny driver for kernel doctests: step a kernel over one symbol's bars and print its outputs."""

import numpy as np

from features.spec import Kernel, StepInput


def run_one(kernel: Kernel, closes: list[float], volume: float = 100.0, spread: float = 0.02) -> list[dict]:
    """Step ``kernel`` over a single symbol's closes (open = previous close) and collect rounded outputs."""
    st = kernel.init(1)
    out, prev = [], None
    for i, c in enumerate(closes):
        o = c if prev is None else prev
        one = np.ones(1, bool)
        arr = lambda v: np.array([float(v)])  # noqa: E731
        pc = arr(o)
        x = StepInput(
            ts=i,
            present=one,
            upd=one,
            halted=~one,
            open=arr(o),
            high=arr(max(o, c) + 0.05),
            low=arr(min(o, c) - 0.05),
            close=arr(c),
            volume=arr(volume),
            vwap=arr((o + c) / 2),
            bid=arr(c - spread / 2),
            ask=arr(c + spread / 2),
            bid_size=arr(300),
            ask_size=arr(100),
            prev_close=pc,
            ret1=np.log(arr(c) / pc),
            minute=i + 1,
            new_session=i == 0,
        )
        vals = kernel.step(st, x)
        out.append({k: round(float(v[0]), 4) for k, v in vals.items()})
        prev = c
    return out

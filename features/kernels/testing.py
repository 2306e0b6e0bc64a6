"""A tiny driver for kernel doctests: step a kernel over one symbol's bars (or SPY's and a stock's) and print its
outputs."""

import numpy as np

from features.spec import Kernel, StepInput


def run_one(
    kernel: Kernel, closes: list[float], volume: float = 100.0, spread: float = 0.02, volumes: list[float] | None = None
) -> list[dict]:
    """Step ``kernel`` over a single symbol's closes (open = previous close) and collect rounded outputs; each bar
    trades ``volume`` unless ``volumes`` gives them one by one."""
    return [{k: v[0] for k, v in row.items()} for row in run_many(kernel, [closes], volume, spread, volumes)]


def run_pair(kernel: Kernel, spy: list[float], stock: list[float]) -> list[dict]:
    """Step ``kernel`` over SPY (symbol 0, the market and the stock's leader) and a stock (symbol 1), minute by
    minute; the stock's rounded outputs."""
    extra = {"spy": 0, "leader": np.array([-1, 0])}
    return [{k: v[1] for k, v in row.items()} for row in run_many(kernel, [spy, stock], extra=extra)]


def run_many(
    kernel: Kernel,
    closes: list[list[float]],
    volume: float = 100.0,
    spread: float = 0.02,
    volumes: list[float] | None = None,
    extra: dict | None = None,
) -> list[dict]:
    """Step ``kernel`` over symbols' closes (one list each, the same length), every symbol trading every minute;
    each minute's outputs rounded, per symbol."""
    c_all = np.array(closes, float)
    n = c_all.shape[0]
    st = kernel.init(n)
    out, prev = [], None
    for i in range(c_all.shape[1]):
        c = c_all[:, i]
        o = c if prev is None else prev
        one = np.ones(n, bool)
        vol = np.full(n, float(volumes[i] if volumes is not None else volume))
        x = StepInput(
            ts=i,
            present=one,
            upd=one,
            halted=~one,
            open=o.copy(),
            high=np.maximum(o, c) + 0.05,
            low=np.minimum(o, c) - 0.05,
            close=c.copy(),
            volume=vol,
            vwap=(o + c) / 2,
            bid=c - spread / 2,
            ask=c + spread / 2,
            bid_size=np.full(n, 300.0),
            ask_size=np.full(n, 100.0),
            prev_close=o.copy(),
            ret1=np.log(c / o),
            minute=i + 1,
            new_session=i == 0,
            extra=extra or {},
        )
        vals = kernel.step(st, x)
        out.append({k: [round(float(u), 4) for u in v] for k, v in vals.items()})
        prev = c
    return out

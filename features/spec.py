"""Feature specs and the kernel interface.

A kernel owns state arrays whose LAST axis is the symbol (``(..., n_symbols)``: a ring of width ``w`` is
``(w, n)``), so one minute's cross-section of any state is contiguous; ``step`` consumes the cross-section at one
minute and returns every output for every symbol. It must only commit state where
``x.upd`` is true (symbols with a fresh, non-halted bar): the engine relies on that to carry state through
missing bars and halts identically online and in the batch fold. State keys starting with ``_`` are global
(not per symbol). Price-level state is listed in ``price_state`` and rescaled on ex-dates; share-count state
in ``volume_state``.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

State = dict[str, np.ndarray]


@dataclass(frozen=True)
class FeatureSpec:
    """One output column: its name (Parquet column, Redis field order, model feature name), warm-up, bounds."""

    name: str
    kernel: str
    warmup: int
    lo: float = -np.inf
    hi: float = np.inf


@dataclass
class StepInput:
    """The cross-section at one minute, aligned with the engine's symbol index (length n)."""

    ts: int
    present: np.ndarray  # a bar exists at ts
    upd: np.ndarray  # present and not halted: kernels update
    halted: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    vwap: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bid_size: np.ndarray
    ask_size: np.ndarray
    prev_close: np.ndarray  # reference for 1-bar changes: last close, or this bar's open on a session's first bar
    ret1: np.ndarray  # log(close / prev_close): the overnight gap never enters
    minute: int  # minutes since the open at ts (1 = first bar)
    new_session: bool
    extra: dict[str, Any] = field(default_factory=dict)


class Kernel(ABC):
    """Base kernel: subclasses set ``name`` and implement ``outputs``, ``init`` and ``step``."""

    name: str = ""
    price_state: tuple[str, ...] = ()  # multiplied by the price factor on an ex-date
    volume_state: tuple[str, ...] = ()  # multiplied by the split ratio (share counts)
    log_price_state: tuple[str, ...] = ()  # shifted by log(price factor)

    def params(self) -> dict[str, Any]:
        """Parameters that define the kernel (they enter the feature-set version)."""
        return {}

    @abstractmethod
    def outputs(self) -> list[FeatureSpec]:
        """The columns this kernel produces."""

    @abstractmethod
    def init(self, n: int) -> State:
        """Fresh state for ``n`` symbols."""

    @abstractmethod
    def step(self, st: State, x: StepInput) -> dict[str, np.ndarray]:
        """Consume the cross-section ``x``; return each output for all symbols."""

    def rescale(self, st: State, idx: np.ndarray, price_factor: np.ndarray, split_ratio: np.ndarray) -> None:
        """Corporate action before the first bar of an ex-date, for symbols ``idx``."""
        for k in self.price_state:
            st[k][..., idx] *= price_factor
        for k in self.volume_state:
            st[k][..., idx] *= split_ratio
        for k in self.log_price_state:
            st[k][..., idx] += np.log(price_factor)


def commit(st: State, key: str, new: np.ndarray, upd: np.ndarray) -> None:
    """Write ``new`` into ``st[key]`` for updated symbols only (``upd`` broadcasts along the symbol axis, last)."""
    np.copyto(st[key], new, where=upd)


def ewm_alpha(halflife: float) -> float:
    """Smoothing factor of an EWM with the given half-life in bars."""
    return float(1.0 - 0.5 ** (1.0 / halflife))


class Ring:
    """Per-symbol ring buffers of width ``w`` in a state dict: ``<key>`` (w, n), slot ``count % w`` holds the
    newest push, and ``<key>_n`` (n,) the push counts. Stored column-major: a symbol's ring is one contiguous run
    (the compiled engine reads a symbol's whole window at a time)."""

    @staticmethod
    def init(st: State, key: str, n: int, w: int, first: float | None = None) -> None:
        st[key] = np.zeros((w, n), order="F")
        st[key + "_n"] = np.zeros(n, dtype=np.int64)
        if first is not None:
            st[key][0] = first
            st[key + "_n"][:] = 1

    @staticmethod
    def lookback(k: int) -> int:
        """Width of a ring read back ``k`` pushes: the smallest power of two above ``k`` (the compiled step
        finds slots with a mask).

        >>> Ring.lookback(5), Ring.lookback(15)
        (8, 16)
        """
        return 1 << int(k).bit_length()

    @staticmethod
    def push(st: State, key: str, x: np.ndarray, upd: np.ndarray) -> None:
        buf, cnt = st[key], st[key + "_n"]
        cols = np.flatnonzero(upd)
        buf[cnt[cols] % buf.shape[0], cols] = x[cols]
        cnt[cols] += 1

    @staticmethod
    def ago(st: State, key: str, k: int) -> np.ndarray:
        """The value pushed ``k`` pushes before the latest (0 = latest); NaN where there is none."""
        buf, cnt = st[key], st[key + "_n"]
        out = buf[(cnt - 1 - k) % buf.shape[0], np.arange(len(cnt))]
        return np.where(cnt > k, out, np.nan)

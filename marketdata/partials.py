"""Partial bars of one tick source (trades or quotes): the compiled fold's arrays and what the aggregator asks of
them — fold a batch, take the rows a watermark finalizes, forget finalized repeats, save and restore."""

import numpy as np

from marketdata import fold

_MIN_KEYS = 1 << 12
_MIN_ROWS = 1 << 10


class Partials:
    """Open rows of one source (``"trades"`` or ``"quotes"``) and its repeat table."""

    def __init__(self, source: str) -> None:
        self.source = source
        trades = source == "trades"
        self.int_cols: tuple[str, ...] = fold.T_INT if trades else fold.Q_INT
        self.float_cols: tuple[str, ...] = fold.T_FLOAT if trades else fold.Q_FLOAT
        self.keys = np.full(_MIN_KEYS, fold.EMPTY, np.int64)  # the repeat table
        self.ends = np.zeros(_MIN_KEYS, np.int64)
        self.n_keys = 0
        self.ints = np.zeros((_MIN_ROWS, len(self.int_cols)), np.int64)
        self.floats = np.zeros((_MIN_ROWS, len(self.float_cols)), np.float64)
        self.n_rows = 0
        self.index = fold.index_rows(self.ints, 0, 2 * _MIN_ROWS)

    def fold(self, codes: np.ndarray, cols: dict[str, np.ndarray], watermark: int) -> np.ndarray:
        """Fold a batch (arrival order); returns each tick's verdict (:data:`marketdata.fold.REASONS`)."""
        state = (self.keys, self.ends, self.n_keys, self.index, self.ints, self.floats, self.n_rows)
        if self.source == "trades":
            args = [cols[k] for k in ("ts", "seq", "price", "size", "correction")]
            why, *state = fold.fold_trades(codes, *args, watermark, *state)
        else:
            args = [cols[k] for k in ("ts", "seq", "bid", "ask", "bid_size", "ask_size")]
            why, *state = fold.fold_quotes(codes, *args, watermark, *state)
        self.keys, self.ends, self.n_keys, self.index, self.ints, self.floats, self.n_rows = state
        return why

    def take(self, watermark: int) -> dict[str, np.ndarray]:
        """Remove and return the rows whose minute ends at or before ``watermark``, ordered by (code, end)."""
        n = self.n_rows
        ints, floats = self.ints[:n], self.floats[:n]
        done = ints[:, 1] <= watermark
        out_i, out_f = ints[done], floats[done]
        minute = out_i[:, 1] // fold.NS_PER_MIN
        span = int(minute.max() - minute.min() + 1) if len(minute) else 1
        order = np.argsort(out_i[:, 0] * span + (minute - (minute.min() if len(minute) else 0)))  # (code, end)
        out = {k: out_i[order, j] for j, k in enumerate(self.int_cols)}
        out.update({k: out_f[order, j] for j, k in enumerate(self.float_cols)})
        if done.any():
            left = ~done
            k = int(left.sum())
            self.ints[:k], self.floats[:k] = ints[left], floats[left]
            self.n_rows = k
            self.index = fold.index_rows(self.ints, k, len(self.index))
        return out

    def compact(self, watermark: int) -> None:
        """Drop repeat entries of finalized minutes (between cycles: the table then holds only open minutes)."""
        if self.n_keys:
            self.keys, self.ends, self.n_keys = fold.rebuild(self.keys, self.ends, watermark, len(self.keys))

    # ---- checkpoints: only the live entries and rows ------------------------------------------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        live = self.keys != fold.EMPTY
        order = np.argsort(self.keys[live], kind="stable")
        return {
            "keys": self.keys[live][order],
            "ends": self.ends[live][order],
            "ints": self.ints[: self.n_rows].copy(),
            "floats": self.floats[: self.n_rows].copy(),
        }

    @classmethod
    def from_arrays(cls, source: str, arrays: dict[str, np.ndarray], watermark: int) -> "Partials":
        p = cls(source)
        keys, ends = arrays["keys"], arrays["ends"]
        cap = max(_MIN_KEYS, 1 << int(np.ceil(np.log2(max(4 * len(keys), 1)))))
        p.keys, p.ends, p.n_keys = fold.rebuild(keys, ends, watermark, cap)
        n = len(arrays["ints"])
        rows = max(_MIN_ROWS, 1 << int(np.ceil(np.log2(max(n, 1)))))
        p.ints = np.zeros((rows, len(p.int_cols)), np.int64)
        p.floats = np.zeros((rows, len(p.float_cols)), np.float64)
        p.ints[:n], p.floats[:n], p.n_rows = arrays["ints"], arrays["floats"], n
        p.index = fold.index_rows(p.ints, n, 2 * rows)
        return p

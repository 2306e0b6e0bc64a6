"""Column buffers and index helpers shared by the aggregator (and its checkpoints)."""

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from marketdata.schemas import BARS_1M, REJECTS, TS


@dataclass
class _Buffer:
    cols: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def append(self, **arrays: np.ndarray) -> None:
        for k, v in arrays.items():
            self.cols.setdefault(k, []).append(v)

    def take(self) -> dict[str, np.ndarray]:
        out = {k: np.concatenate(v) for k, v in self.cols.items()}
        self.cols = {}
        return out

    def __len__(self) -> int:
        return sum(len(a) for a in self.cols.get("ts", []))


def _ffill_index(valid: np.ndarray) -> np.ndarray:
    """For each position, the index of the last position at or before it where ``valid`` holds (-1 if none)."""
    idx = np.where(valid, np.arange(len(valid)), -1)
    return np.maximum.accumulate(idx) if len(idx) else idx


def rejects_table(source: str, table: pa.Table, mask: np.ndarray, reason: np.ndarray | str) -> pa.Table:
    """The rows of ``table`` under ``mask`` as ``rejects`` rows with their reasons."""
    rows = table.filter(pa.array(mask))
    reasons = np.broadcast_to(np.asarray(reason, dtype=object), mask.shape)[mask]
    return pa.table(
        {
            "source": pa.array([source] * rows.num_rows, pa.string()),
            "symbol": rows.column("symbol"),
            "ts": rows.column("ts"),
            "seq": rows.column("seq"),
            "reason": pa.array(reasons.tolist(), pa.string()),
        },
        schema=REJECTS,
    )


def bars_table(names, rank, code, end, ohlc, halted, nbbo) -> pa.Table:  # type: ignore[no-untyped-def]
    """Finalized bar arrays as a ``bars_1m`` table, minute by minute, symbols by name (``rank``), so the table
    does not depend on arrival order. ``names``: the symbols as an Arrow string array, by code."""
    minute = end // 60_000_000_000
    first = minute.min() if len(minute) else 0
    order = np.argsort((minute - first) * max(len(rank), 1) + rank[code])  # by minute, symbols by name
    code, end, ohlc, halted, nbbo = code[order], end[order], ohlc[order], halted[order], nbbo[order]

    def f(a: np.ndarray) -> pa.Array:
        return pa.array(a, pa.float64(), mask=np.isnan(a))

    return pa.table(
        {
            "symbol": names.take(pa.array(code, pa.int64())) if len(code) else pa.array([], pa.string()),
            "ts": pa.array(end, pa.int64()).cast(TS),
            "open": ohlc[:, 0],
            "high": ohlc[:, 1],
            "low": ohlc[:, 2],
            "close": ohlc[:, 3],
            "volume": ohlc[:, 4],
            "vwap": ohlc[:, 5],
            "trades": ohlc[:, 6].astype(np.int32),
            "bid": f(nbbo[:, 0]),
            "ask": f(nbbo[:, 1]),
            "bid_size": f(nbbo[:, 2]),
            "ask_size": f(nbbo[:, 3]),
            "halted": halted,
        },
        schema=BARS_1M,
    )

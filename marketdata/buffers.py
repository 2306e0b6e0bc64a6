"""Column buffers and index helpers shared by the aggregator (and its checkpoints)."""

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from marketdata.schemas import REJECTS


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

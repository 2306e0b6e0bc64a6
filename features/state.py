"""What the engine remembers between minutes (:class:`EngineState`), and how a minute's symbols find their rows."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
import pyarrow as pa

from features.spec import State
from features.symtab import SymbolTable

# a minute's symbols: Python strings, or an Arrow string column
Symbols: TypeAlias = Sequence[str] | pa.Array | pa.ChunkedArray


ARROW = (pa.Array, pa.ChunkedArray)


class StateMismatch(ValueError):
    """An engine state computed by another feature set than the engine's."""


@dataclass
class EngineState:
    """Everything the engine remembers. Saved and restored bit for bit (:mod:`features.state_io`)."""

    symbols: list[str] = field(default_factory=list)
    kernels: list[State] = field(default_factory=list)
    last_close: np.ndarray = field(default_factory=lambda: np.zeros(0))
    last_session: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    last_upd_ts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    nupd: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    last_out: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (kernel features, n): last values
    session: int = -1  # ordinal of the current session date
    last_ts: int = 0
    feature_set: str = ""  # the feature-set version that computed it ("": saved before states recorded it)
    _index: dict[str, int] = field(default_factory=dict, repr=False)
    _table: SymbolTable | None = field(default=None, repr=False)

    def index(self) -> dict[str, int]:
        """Symbol -> row, kept in step with ``symbols`` (rebuilt after a restore)."""
        if len(self._index) != len(self.symbols):
            self._index = {s: i for i, s in enumerate(self.symbols)}
        return self._index

    def table(self) -> SymbolTable:
        """The registry's names for lookups from Arrow buffers, in step with ``symbols`` (built on first use: a
        scorer builds it between minutes, not in its first cycle)."""
        if self._table is None:
            self._table = SymbolTable()
        self._table.sync(self.symbols)
        return self._table

    def rows(self, symbols: Symbols) -> np.ndarray | None:
        """Registry rows of ``symbols``, or None if any is not registered. An Arrow column is looked up from its
        buffers (:mod:`features.symtab`), a sequence of strings through :meth:`index`."""
        if not isinstance(symbols, ARROW):
            try:
                return np.fromiter(map(self.index().__getitem__, symbols), np.int64, len(symbols))
            except KeyError:
                return None
        rows, missing = self.table().rows(symbols)
        return None if missing else rows

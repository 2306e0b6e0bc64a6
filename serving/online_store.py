"""Online store: packed float32 feature rows per symbol, one key each (MSET/MGET), event-time monotonic.

Two implementations of one interface (STYLE pattern 1): :class:`RedisOnlineStore` for production and
:class:`InProcessOnlineStore` for the embedded default. A row carries its event time; a write never replaces a
newer row with an older one (Feast's Redis store does the same).
"""

import struct
from abc import ABC, abstractmethod

import numpy as np

HEADER = struct.Struct("<q")  # event time, ns


def pack(ts_ns: int, row: np.ndarray) -> bytes:
    return HEADER.pack(ts_ns) + np.asarray(row, dtype="<f4").tobytes()


def unpack(blob: bytes) -> tuple[int, np.ndarray]:
    (ts,) = HEADER.unpack_from(blob)
    return ts, np.frombuffer(blob, dtype="<f4", offset=HEADER.size)


class OnlineStore(ABC):
    """Latest feature row per symbol under a feature-set version prefix."""

    def __init__(self, version: str):
        self.version = version

    def key(self, symbol: str) -> str:
        return f"tw:{self.version}:f:{symbol}"

    @abstractmethod
    def write(self, symbols: list[str], ts_ns: int, rows: np.ndarray) -> int:
        """Write rows stamped ``ts_ns``; returns how many were written (older-than-stored rows are skipped)."""

    @abstractmethod
    def read(self, symbols: list[str]) -> dict[str, tuple[int, np.ndarray]]:
        """Latest ``(ts_ns, row)`` per symbol present."""


class InProcessOnlineStore(OnlineStore):
    def __init__(self, version: str):
        super().__init__(version)
        self._data: dict[str, bytes] = {}

    def write(self, symbols: list[str], ts_ns: int, rows: np.ndarray) -> int:
        n = 0
        for s, r in zip(symbols, rows, strict=True):
            k = self.key(s)
            old = self._data.get(k)
            if old is None or unpack(old)[0] < ts_ns:
                self._data[k] = pack(ts_ns, r)
                n += 1
        return n

    def read(self, symbols: list[str]) -> dict[str, tuple[int, np.ndarray]]:
        return {s: unpack(self._data[self.key(s)]) for s in symbols if self.key(s) in self._data}


def pack_many(ts_ns: int, rows: np.ndarray) -> list[bytes]:
    """``pack`` for a whole cross-section in one numpy pass."""
    rows = np.ascontiguousarray(rows, dtype="<f4")
    n, f = rows.shape
    buf = np.empty((n, HEADER.size + 4 * f), dtype=np.uint8)
    buf[:, : HEADER.size] = np.frombuffer(HEADER.pack(ts_ns), dtype=np.uint8)
    buf[:, HEADER.size :] = rows.view(np.uint8).reshape(n, 4 * f)
    return [r.tobytes() for r in buf]


class RedisOnlineStore(OnlineStore):
    """One key per symbol, MSET/MGET. Event-time monotonic: the newest event time written per key is tracked in
    memory (a scorer owns its symbols' partitions) and read back from Redis once per key on first sight, so an
    older row never replaces a newer one, even one written before a restart."""

    def __init__(self, url: str, version: str):
        import redis

        super().__init__(version)
        self.r = redis.Redis.from_url(url)
        self._newest: dict[str, int] = {}

    def write(self, symbols: list[str], ts_ns: int, rows: np.ndarray) -> int:
        keys = [self.key(s) for s in symbols]
        unseen = [k for k in keys if k not in self._newest]
        if unseen:
            for k, old in zip(unseen, self.r.mget(unseen), strict=True):
                self._newest[k] = unpack(old)[0] if old is not None else -1
        blobs = pack_many(ts_ns, rows)
        fresh = {k: b for k, b in zip(keys, blobs, strict=True) if self._newest[k] < ts_ns}
        if fresh:
            self.r.mset(fresh)
            for k in fresh:
                self._newest[k] = ts_ns
        return len(fresh)

    def read(self, symbols: list[str]) -> dict[str, tuple[int, np.ndarray]]:
        vals = self.r.mget([self.key(s) for s in symbols])
        return {s: unpack(v) for s, v in zip(symbols, vals, strict=True) if v is not None}

"""Partial bars: one row per (symbol, minute) not yet finalized, merged associatively (any batching, same bar)."""

import numpy as np

TRADE_PARTS = ("code", "end", "fts", "fseq", "open", "lts", "lseq", "close", "high", "low", "vol", "pvi", "pvr", "n")
QUOTE_PARTS = ("code", "end", "ts", "seq", "bid", "ask", "bid_size", "ask_size")
_INT_PARTS = {"code", "end", "fts", "fseq", "lts", "lseq", "ts", "seq", "pvi"}
PV_SCALE = 1e6  # notional in micro-dollars: exact integer sums, so a bar's VWAP never depends on batch boundaries


def _notional(price: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each print's notional as exact integer micro-dollars when its price has at most 6 decimals and its size is
    whole (every equity feed), else as a float remainder (summed in arrival order: the one inexact case).

    >>> _notional(np.array([10.25, 1 / 3]), np.array([100.0, 3.0]))
    (array([1025000000,          0]), array([0., 1.]))
    """
    p6 = np.rint(price * PV_SCALE)
    ok = (np.abs(price * PV_SCALE - p6) < 1e-3) & (size == np.rint(size)) & (p6 * size < 2.0**53)
    pvi = np.where(ok, p6 * size, 0.0).astype(np.int64)
    return pvi, np.where(ok, 0.0, price * size)


def _empty(names: tuple[str, ...]) -> dict[str, np.ndarray]:
    return {k: np.empty(0, np.int64 if k in _INT_PARTS else np.float64) for k in names}


def _concat(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([a[k], b[k]]) for k in a}


def _split(p: dict[str, np.ndarray], mask: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    return {k: v[mask] for k, v in p.items()}, {k: v[~mask] for k, v in p.items()}


def _seen(keys: np.ndarray, held: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """Which keys are already held (each chunk sorted)."""
    out = np.zeros(len(keys), bool)
    for chunk, _ in held:
        i = np.minimum(np.searchsorted(chunk, keys), len(chunk) - 1)
        out |= chunk[i] == keys
    return out


def _groups(*keys: np.ndarray) -> np.ndarray:
    """Start flags of runs of equal key tuples (arrays already sorted by them)."""
    new = np.ones(len(keys[0]), bool)
    if len(new) > 1:
        new[1:] = np.logical_or.reduce([k[1:] != k[:-1] for k in keys])
    return new


def _reduce_trades(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Merge partial bars into one row per (code, end): open from the earliest (ts, seq), close from the latest.

    >>> r = _reduce_trades(dict(code=np.array([0, 0]), end=np.array([60, 60]), fts=np.array([5, 2]),
    ...     fseq=np.array([1, 0]), open=np.array([10., 11.]), lts=np.array([9, 2]), lseq=np.array([3, 0]),
    ...     close=np.array([12., 11.]), high=np.array([12., 11.]), low=np.array([9., 11.]), vol=np.array([3., 1.]),
    ...     pvi=np.array([30, 11]), pvr=np.array([0., 0.]), n=np.array([2., 1.])))
    >>> [float(r[k][0]) for k in ("open", "close", "high", "low", "vol", "n")]
    [11.0, 12.0, 12.0, 9.0, 4.0, 3.0]
    """
    if not len(p["code"]):
        return p
    o = np.lexsort((p["fseq"], p["fts"], p["end"], p["code"]))
    p = {k: v[o] for k, v in p.items()}
    starts = np.flatnonzero(_groups(p["code"], p["end"]))
    if len(starts) == len(p["code"]):
        return p  # nothing to merge
    gid = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(p["code"]))))
    o2 = np.lexsort((p["lseq"], p["lts"], gid))
    lasts = o2[np.append(gid[o2][1:] != gid[o2][:-1], True)]
    out = {k: p[k][starts] for k in ("code", "end", "fts", "fseq", "open")}
    out.update({k: p[k][lasts] for k in ("lts", "lseq", "close")})
    out["high"] = np.maximum.reduceat(p["high"], starts)
    out["low"] = np.minimum.reduceat(p["low"], starts)
    for k in ("vol", "pvi", "pvr", "n"):
        out[k] = np.add.reduceat(p[k], starts)
    return {k: out[k] for k in TRADE_PARTS}


def _reduce_quotes(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Keep the last quote (by ts, seq) per (code, end)."""
    if not len(p["code"]):
        return p
    o = np.lexsort((p["seq"], p["ts"], p["end"], p["code"]))
    p = {k: v[o] for k, v in p.items()}
    last = np.append(_groups(p["code"], p["end"])[1:], True)
    return {k: v[last] for k, v in p.items()}


def held_to_arrays(held: dict[str, list[tuple[np.ndarray, int]]]) -> dict[str, np.ndarray]:
    """Duplicate-key chunks (sorted keys, max minute end) as flat arrays for a checkpoint."""
    out = {}
    for source, chunks in held.items():
        out[f"held/{source}/keys"] = np.concatenate([k for k, _ in chunks]) if chunks else np.empty(0, np.int64)
        out[f"held/{source}/ends"] = np.array([e for _, e in chunks], np.int64)
        out[f"held/{source}/sizes"] = np.array([len(k) for k, _ in chunks], np.int64)
    return out


def held_from_arrays(arrays: dict[str, np.ndarray], sources: list[str]) -> dict[str, list[tuple[np.ndarray, int]]]:
    out: dict[str, list[tuple[np.ndarray, int]]] = {}
    for source in sources:
        cuts = np.cumsum(arrays[f"held/{source}/sizes"])[:-1]
        ends = arrays[f"held/{source}/ends"].tolist()
        out[source] = list(zip(np.split(arrays[f"held/{source}/keys"], cuts), ends, strict=True)) if ends else []
    return out

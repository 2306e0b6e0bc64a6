"""The aggregator's per-tick work, compiled: screen each tick, drop repeats, fold it into its partial bar.

One pass over a batch in arrival order (numba), so the cost per tick does not depend on how ticks are batched and a
live feed's minute costs what its ticks cost. All state is plain arrays (checkpointed as arrays):

* a repeat table per source: open addressing on ``(code << 40) | seq``, each entry with the end of its tick's
  minute. An entry whose minute has been finalized counts as absent: a repeat is judged against the ticks of the
  minutes still open, exactly the ticks whose bars a repeat could still change. :func:`compact` drops such entries;
* partial rows, one per (symbol code, minute end) not yet finalized, found through a small index table: integer
  columns (:data:`T_INT`, :data:`Q_INT`) and float columns (:data:`T_FLOAT`, :data:`Q_FLOAT`).

A tick's verdict is a small code (:data:`REASONS`); the first that applies wins, in the order the checks are made.
"""

import numpy as np
from numba import njit

NS_PER_MIN = 60_000_000_000
SEQ_BITS = 40
SEQ_MASK = (1 << SEQ_BITS) - 1
EMPTY = -1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)

# verdicts: 0 = kept
REASONS = (
    "",
    "non-positive or NaN size",
    "non-positive or NaN price",
    "corrected or cancelled by the source",
    "event time behind watermark",
    "duplicate (symbol, seq)",
    "negative or NaN size",
    "crossed quote (bid > ask)",
    "non-positive or NaN bid/ask",
)
BAD_SIZE, BAD_PRICE, CORRECTED, LATE, REPEAT, BAD_QSIZE, CROSSED, BAD_QUOTE = range(1, 9)

T_INT = ("code", "end", "fts", "fseq", "lts", "lseq", "pvi")
T_FLOAT = ("open", "close", "high", "low", "vol", "pvr", "n")
Q_INT = ("code", "end", "ts", "seq")
Q_FLOAT = ("bid", "ask", "bid_size", "ask_size")
PV_SCALE = 1e6  # notional in micro-dollars: exact integer sums, so a bar's VWAP never depends on batch boundaries


@njit(cache=True, inline="always")
def _shift(cap: int) -> int:
    bits = 0
    while (1 << bits) < cap:
        bits += 1
    return 64 - bits


@njit(cache=True, inline="always")
def _slot(key: int, shift: int) -> int:
    return np.int64((np.uint64(key) * _GOLDEN) >> np.uint64(shift))  # type: ignore[return-value]


@njit(cache=True, nogil=True)
def rebuild(keys: np.ndarray, ends: np.ndarray, watermark: int, cap: int) -> tuple[np.ndarray, np.ndarray, int]:
    """A repeat table of ``cap`` slots holding the entries of ``keys``/``ends`` whose minute is still open."""
    nk = np.full(cap, EMPTY, np.int64)
    ne = np.zeros(cap, np.int64)
    sh, mask, n = _shift(cap), cap - 1, 0
    for i in range(len(keys)):
        k = keys[i]
        if k != EMPTY and ends[i] > watermark:
            j = _slot(k, sh)
            while nk[j] != EMPTY:
                j = (j + 1) & mask
            nk[j] = k
            ne[j] = ends[i]
            n += 1
    return nk, ne, n


@njit(cache=True, inline="always")
def _repeat(keys: np.ndarray, ends: np.ndarray, key: int, end: int, watermark: int, sh: int) -> int:
    """-1 if ``key`` is held for an open minute (a repeat); else records it and returns the slots it newly took."""
    mask = len(keys) - 1
    j = _slot(key, sh)
    while True:
        k = keys[j]
        if k == EMPTY:
            keys[j] = key
            ends[j] = end
            return 1
        if k == key:
            if ends[j] > watermark:
                return -1
            ends[j] = end  # its minute was finalized: absent, reused in place
            return 0
        j = (j + 1) & mask


@njit(cache=True, nogil=True)
def index_rows(ints: np.ndarray, n: int, cap: int) -> np.ndarray:
    """The (code, end) -> row index table of the first ``n`` rows."""
    idx = np.full(cap, EMPTY, np.int64)
    sh, mask = _shift(cap), cap - 1
    for r in range(n):
        j = _slot((ints[r, 0] << 30) ^ (ints[r, 1] // NS_PER_MIN), sh)
        while idx[j] != EMPTY:
            j = (j + 1) & mask
        idx[j] = r
    return idx


@njit(cache=True, inline="always")
def _find(idx: np.ndarray, ints: np.ndarray, code: int, end: int, sh: int) -> tuple[int, int]:
    """(row, -1) if (code, end) has a row, else (-1, the free slot for it)."""
    mask = len(idx) - 1
    j = _slot((code << 30) ^ (end // NS_PER_MIN), sh)
    while True:
        r = idx[j]
        if r == EMPTY:
            return -1, j
        if ints[r, 0] == code and ints[r, 1] == end:
            return r, -1
        j = (j + 1) & mask


@njit(cache=True, nogil=True)
def _grow(a: np.ndarray) -> np.ndarray:
    out = np.zeros((2 * a.shape[0], a.shape[1]), a.dtype)
    out[: a.shape[0]] = a
    return out


@njit(cache=True, nogil=True)
def fold_trades(code, ts, seq, price, size, corr, watermark, dk, de, dn, idx, ti, tf, nrows):  # type: ignore[no-untyped-def]
    """Screen and fold a batch of trades; returns each tick's verdict and the (possibly regrown) state."""
    n = len(code)
    why = np.zeros(n, np.uint8)
    dsh, ish = _shift(len(dk)), _shift(len(idx))
    for i in range(n):
        p, v = price[i], size[i]
        if corr[i] != 0:
            why[i] = CORRECTED
            continue
        if not p > 0:
            why[i] = BAD_PRICE
            continue
        if not v > 0:
            why[i] = BAD_SIZE
            continue
        t, s = ts[i], seq[i]
        if t < watermark:
            why[i] = LATE
            continue
        end = (t // NS_PER_MIN + 1) * NS_PER_MIN
        if 2 * (dn + 1) > len(dk):
            dk, de, dn = rebuild(dk, de, watermark, 2 * len(dk))
            dsh = _shift(len(dk))
        took = _repeat(dk, de, (code[i] << SEQ_BITS) | (s & SEQ_MASK), end, watermark, dsh)
        if took < 0:
            why[i] = REPEAT
            continue
        dn += took
        p6 = np.rint(p * PV_SCALE)
        exact = abs(p * PV_SCALE - p6) < 1e-3 and v == np.rint(v) and p6 * v < 2.0**53
        pvi = np.int64(p6 * v) if exact else np.int64(0)
        pvr = 0.0 if exact else p * v
        r, free = _find(idx, ti, code[i], end, ish)
        if r < 0:
            if nrows == ti.shape[0]:
                ti, tf = _grow(ti), _grow(tf)
            r = nrows
            nrows += 1
            idx[free] = r
            ti[r, 0], ti[r, 1], ti[r, 2], ti[r, 3], ti[r, 4], ti[r, 5], ti[r, 6] = code[i], end, t, s, t, s, pvi
            tf[r, 0], tf[r, 1], tf[r, 2], tf[r, 3], tf[r, 4], tf[r, 5], tf[r, 6] = p, p, p, p, v, pvr, 1.0
            if 2 * nrows > len(idx):
                idx = index_rows(ti, nrows, 2 * len(idx))
                ish = _shift(len(idx))
            continue
        if t < ti[r, 2] or (t == ti[r, 2] and s < ti[r, 3]):
            ti[r, 2], ti[r, 3], tf[r, 0] = t, s, p
        if t > ti[r, 4] or (t == ti[r, 4] and s > ti[r, 5]):
            ti[r, 4], ti[r, 5], tf[r, 1] = t, s, p
        tf[r, 2] = max(tf[r, 2], p)
        tf[r, 3] = min(tf[r, 3], p)
        tf[r, 4] += v
        ti[r, 6] += pvi
        tf[r, 5] += pvr
        tf[r, 6] += 1.0
    return why, dk, de, dn, idx, ti, tf, nrows


@njit(cache=True, nogil=True)
def fold_quotes(code, ts, seq, bid, ask, bsz, asz, watermark, dk, de, dn, idx, qi, qf, nrows):  # type: ignore[no-untyped-def]
    """Screen and fold a batch of NBBO quotes: the last quote (by time, then sequence) of each symbol's minute."""
    n = len(code)
    why = np.zeros(n, np.uint8)
    dsh, ish = _shift(len(dk)), _shift(len(idx))
    for i in range(n):
        b, a = bid[i], ask[i]
        if not b > 0 or not a > 0:
            why[i] = BAD_QUOTE
            continue
        if b > a:
            why[i] = CROSSED
            continue
        if not (bsz[i] >= 0 and asz[i] >= 0):
            why[i] = BAD_QSIZE
            continue
        t, s = ts[i], seq[i]
        if t < watermark:
            why[i] = LATE
            continue
        end = (t // NS_PER_MIN + 1) * NS_PER_MIN
        if 2 * (dn + 1) > len(dk):
            dk, de, dn = rebuild(dk, de, watermark, 2 * len(dk))
            dsh = _shift(len(dk))
        took = _repeat(dk, de, (code[i] << SEQ_BITS) | (s & SEQ_MASK), end, watermark, dsh)
        if took < 0:
            why[i] = REPEAT
            continue
        dn += took
        r, free = _find(idx, qi, code[i], end, ish)
        if r < 0:
            if nrows == qi.shape[0]:
                qi, qf = _grow(qi), _grow(qf)
            r = nrows
            nrows += 1
            idx[free] = r
            qi[r, 0], qi[r, 1], qi[r, 2], qi[r, 3] = code[i], end, -1, -1
            if 2 * nrows > len(idx):
                idx = index_rows(qi, nrows, 2 * len(idx))
                ish = _shift(len(idx))
        if t > qi[r, 2] or (t == qi[r, 2] and s > qi[r, 3]):
            qi[r, 2], qi[r, 3] = t, s
            qf[r, 0], qf[r, 1], qf[r, 2], qf[r, 3] = b, a, bsz[i], asz[i]
    return why, dk, de, dn, idx, qi, qf, nrows

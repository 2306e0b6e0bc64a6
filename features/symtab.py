"""Symbol -> registry row for a minute's Arrow string column, compiled: the online step's look-up.

The scorer's finalized bars of a minute are an Arrow table. Turning its symbol column into Python strings and
looking each up in a dict cost the step 0.3-0.6 ms per 5,000 symbols. :class:`SymbolTable` reads the names'
UTF-8 bytes straight from the Arrow buffers into a key — a name of up to 7 bytes (every US ticker) packed into
the key itself, a longer one hashed (FNV-1a) and compared byte by byte on a hit — and finds the key in an open
addressing table whose slot holds key and row together: one cache line per symbol, so a row is found exactly
or not at all. The table follows the engine's registry, which only grows; a restored state starts without one
and builds it from ``symbols`` on first use.

A minute's symbols come sorted by name (the scorer sorts the minute's bars; the lake stores them so), a few
missing or new. The look-up therefore walks the registry's names in name order beside the query: a short name
whose key equals one of the next few names of that walk is that name, and its row is read from the walk
(sequential reads, no hashing; a name absent this minute is skipped over). Any other name — out of order, long,
or new — is probed in the table, and a hit resumes the walk after that name. Following the last minute's names
instead cost a probe for every name that was absent then (a cache miss each: ~150 µs a minute at 5,000 symbols,
against ~50 µs this way).
"""

import numpy as np
import pyarrow as pa
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

FNV_OFFSET = -3750763034362895579  # 14695981039346656037 as a signed 64-bit integer (numba wraps int64 products)
FNV_PRIME = 1099511628211
LONG = -(1 << 63)  # the top bit: set on the keys of names longer than 7 bytes
AHEAD = 4  # names of the walk a short name is compared with before the table is probed
GOLDEN = -7046029254386353131  # 0x9E3779B97F4A7C15 (Fibonacci hashing) as a signed 64-bit integer


@intrinsic
def load8(typingctx, data, a):
    """The bytes ``data[a:a + 8]`` of a uint8 array as one int64, the first byte lowest (numba's CPUs are all
    little-endian, so this is the byte loop's key): a single load at any alignment (the caller keeps ``a + 8``
    within the array)."""

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        k = context.cast(builder, args[1], signature.args[1], types.intp)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [k])
        return builder.load(builder.bitcast(ptr, ir.IntType(64).as_pointer()), align=1)

    return types.int64(data, a), codegen


@njit(cache=True, inline="always")
def name_key(data, a, b):
    """The key of the name ``data[a:b]``: up to 7 bytes packed exactly (the bytes, then the length in the top
    byte: equal keys are equal names); longer names their FNV-1a hash with the top bit set (checked byte by byte)."""
    n = b - a
    if n <= 7:
        if a + 8 <= data.shape[0]:  # eight bytes in one load, then a mask: no loop, no branch on the length
            k = load8(data, a) & ((np.int64(1) << (8 * n)) - 1)
        else:
            k = np.int64(0)
            for j in range(n):
                k |= np.int64(data[a + j]) << (8 * j)
        return k | (np.int64(n) << 56)
    h = np.int64(FNV_OFFSET)
    for j in range(a, b):
        h = (h ^ np.int64(data[j])) * FNV_PRIME
    return h | LONG


@njit(cache=True, inline="always")
def home(k, mask):
    h = k * GOLDEN
    return (h ^ (h >> 29)) & mask


@njit(cache=True, inline="always")
def same(x, a, b, y, c, d):
    if b - a != d - c:
        return False
    for k in range(b - a):
        if x[a + k] != y[c + k]:
            return False
    return True


@njit(cache=True)
def add_rows(tab, keys, off, data, lo, hi, rebuild):
    """Key registry rows ``lo:hi`` (row ``r``'s name is ``data[off[r]:off[r + 1]]``) and put them into ``tab``
    (``[key, row + 1]`` per slot, a slot in one cache line; row 0 = empty); with ``rebuild``, ``tab`` is new and
    every row ``< hi`` goes in."""
    mask = tab.shape[0] - 1
    for row in range(lo, hi):
        keys[row] = name_key(data, off[row], off[row + 1])
    for row in range(0 if rebuild else lo, hi):
        s = home(keys[row], mask)
        while tab[s, 1] != 0:
            s = (s + 1) & mask
        tab[s, 0], tab[s, 1] = keys[row], row + 1


@njit(cache=True, _nrt=False)
def lookup(offsets, start, q_data, tab, off, data, seq_keys, seq_rows, seq_pos, out):
    """Each queried name's registry row (-1 where it has none): name ``j`` is ``q_data[q_off[j]:q_off[j + 1]]``
    with ``q_off = offsets[start:]`` (an Arrow column's offsets as they are, 32 or 64 bits, and its offset).
    ``seq_keys``/``seq_rows`` are the registry's keys and rows in name order, ``seq_pos`` each row's place there.
    A short name equal to one of the :data:`AHEAD` names after the last one found takes its row from there (a
    short name's key is the name itself); any other name costs one probe of ``tab`` as a rule. The rows go into
    ``out``; returns how many names have none. (No reference counting: the arrays are the caller's. With it, each
    name's key cost two atomic count updates, and the look-up took half again as long.)"""
    q_off = offsets[start:]
    mask = tab.shape[0] - 1
    n = seq_keys.shape[0]
    missing = 0
    p = 0
    for j in range(q_off.shape[0] - 1):
        a, b = q_off[j], q_off[j + 1]
        k = name_key(q_data, a, b)
        if k >= 0:
            e = min(p + AHEAD, n)
            q = p
            while q < e and seq_keys[q] != k:
                q += 1
            if q < e:
                out[j] = seq_rows[q]
                p = q + 1
                continue
        s = home(k, mask)
        r = -1
        while tab[s, 1] != 0:
            if tab[s, 0] == k:
                row = tab[s, 1] - 1
                if k >= 0 or same(q_data, a, b, data, off[row], off[row + 1]):
                    r = row
                    break
            s = (s + 1) & mask
        out[j] = r
        missing += r < 0
        if r >= 0:
            p = seq_pos[r] + 1
    return missing


def string_buffers(arr: pa.Array) -> tuple[np.ndarray, int, np.ndarray]:
    """A string (or large string) Arrow array's offsets as stored (32 or 64 bits), where its own start among them,
    and its UTF-8 bytes: numpy views, no copy. Name ``j`` is ``bytes[offsets[start + j]:offsets[start + j + 1]]``."""
    _, offsets, data = arr.buffers()
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    off = np.frombuffer(offsets, width, len(arr) + 1 + arr.offset) if len(arr) else np.zeros(1, width)
    return off, arr.offset, np.frombuffer(data, np.uint8) if data is not None else np.zeros(1, np.uint8)


def _grown(a: np.ndarray, need: int) -> np.ndarray:
    if need <= len(a):
        return a
    b = np.zeros(max(need, 2 * len(a)), a.dtype)
    b[: len(a)] = a
    return b


class SymbolTable:
    """The registry's names as UTF-8 bytes, with a hash table over them; :meth:`sync` appends newcomers."""

    def __init__(self) -> None:
        self.n = 0
        self.data = np.zeros(1024, np.uint8)
        self.off = np.zeros(257, np.int64)
        self.keys = np.zeros(256, np.int64)
        self.tab = np.zeros((512, 2), np.int64)
        self.seq_rows: np.ndarray = np.zeros(0, np.int64)  # the registry's rows in name order
        self.seq_keys: np.ndarray = np.zeros(0, np.int64)  # their keys
        self.seq_pos: np.ndarray = np.zeros(0, np.int64)  # each row's place in that order

    def sync(self, symbols: list[str]) -> None:
        """Add ``symbols[self.n:]`` (the registry appends; rows keep their numbers)."""
        new = symbols[self.n :]
        if not new:
            return
        enc = [s.encode() for s in new]
        n = self.n + len(new)
        self.off = _grown(self.off, n + 1)
        self.keys = _grown(self.keys, n)
        lens = np.fromiter(map(len, enc), np.int64, len(enc))
        self.off[self.n + 1 : n + 1] = self.off[self.n] + np.cumsum(lens)
        self.data = _grown(self.data, int(self.off[n]))
        self.data[self.off[self.n] : self.off[n]] = np.frombuffer(b"".join(enc), np.uint8)
        rebuild = 2 * n > len(self.tab)  # load factor at most one half: short probe runs
        if rebuild:
            self.tab = np.zeros((1 << (2 * n - 1).bit_length(), 2), np.int64)
        add_rows(self.tab, self.keys, self.off, self.data, self.n, n, rebuild)
        self.n = n
        self.seq_rows = np.argsort(np.array(symbols[:n]), kind="stable").astype(np.int64)
        self.seq_keys = self.keys[self.seq_rows]
        self.seq_pos = np.empty(n, np.int64)
        self.seq_pos[self.seq_rows] = np.arange(n)

    def rows(self, names: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, int]:
        """Registry rows of ``names`` (-1 for names not registered) and how many are missing."""
        arr = names.combine_chunks() if isinstance(names, pa.ChunkedArray) else names
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            arr = arr.cast(pa.string())
        if arr.null_count:
            raise ValueError(f"symbol column has {arr.null_count} null value(s): every bar needs a symbol")
        if not len(arr):
            return np.empty(0, np.int64), 0
        offsets, start, q_data = string_buffers(arr)
        out = np.empty(len(arr), np.int64)
        missing = lookup(offsets, start, q_data, self.tab, self.off, self.data, self.seq_keys, self.seq_rows,
                         self.seq_pos, out)  # fmt: skip
        return out, int(missing)

"""Ticks -> 1-minute bars: one implementation for the batch path and the live scorer.

:class:`BarAggregator` is incremental: feed it batches of trades, quotes and halts as they arrive, then ask for
the bars a watermark finalizes. A bar stamped ``ts`` covers trades with event time in ``[ts - 60 s, ts)``; its
NBBO is the last quote with event time ``< ts``. The batch path (:func:`aggregate`) is the same class fed whole
files and finalized once.

Each batch is screened and folded on arrival, tick by tick in arrival order, by one compiled pass
(:mod:`marketdata.fold`) into running partial bars, one row per (symbol, minute) not yet finalized (first and last
print by event time and sequence, high, low, volume, notional, count; the last quote per minute). So finalizing a
minute only selects rows, and the cost of a tick does not depend on how the ticks were batched.

Refused ticks are never dropped silently: each goes to :meth:`BarAggregator.drain_rejects` with its reason (or,
through :meth:`BarAggregator.fold`, back to the caller) — a repeat of an accepted ``(symbol, seq)`` of a minute
still open, an event time behind the watermark, a non-positive or NaN price or size, a crossed quote, or a print
the source marks corrected or cancelled.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marketdata.buffers import _ffill_index, bars_table, rejects_table
from marketdata.fold import PV_SCALE, REASONS
from marketdata.partials import Partials
from marketdata.schemas import NS_PER_MIN, REJECTS

_REASONS = np.array(REASONS, dtype=object)
_MIN_TS = np.iinfo(np.int64).min
OPEN_HALT = (np.iinfo(np.int64).max // NS_PER_MIN - 1) * NS_PER_MIN  # the end of a halt not yet over


class BarAggregator:
    """Incremental tick-to-bar aggregator with a watermark; see the module docstring."""

    def __init__(self) -> None:
        self.watermark = _MIN_TS
        self._names: list[str] = []
        self._codes: dict[str, int] = {}
        self._parts = {"trades": Partials("trades"), "quotes": Partials("quotes")}
        self._halts: np.ndarray = np.empty((0, 3), dtype=np.int64)  # code, start, end
        self._last_close: np.ndarray = np.full(0, np.nan)
        self._last_quote: np.ndarray = np.full((0, 4), np.nan)
        self._rejects: list[pa.Table] = []
        self._rank: np.ndarray = np.empty(0, np.int64)
        self._names_arrow = pa.array([], pa.string())

    # ---- input -------------------------------------------------------------------------------------------
    def codes(self, symbols: pa.ChunkedArray | pa.Array) -> np.ndarray:
        """Each symbol's code, registering new symbols (in order of first appearance)."""
        arr = symbols.combine_chunks() if isinstance(symbols, pa.ChunkedArray) else symbols
        enc = pc.dictionary_encode(arr)
        lookup = np.empty(len(enc.dictionary), np.int64)
        for i, s in enumerate(enc.dictionary.to_pylist()):
            c = self._codes.get(s)
            if c is None:
                c = self._codes[s] = len(self._names)
                self._names.append(s)
            lookup[i] = c
        n = len(self._names)
        if len(self._last_close) < n:
            grow = n - len(self._last_close)
            self._last_close = np.concatenate([self._last_close, np.full(grow, np.nan)])
            self._last_quote = np.vstack([self._last_quote, np.full((grow, 4), np.nan)])
        return lookup[enc.indices.to_numpy(zero_copy_only=False)] if len(arr) else np.empty(0, np.int64)

    def fold(self, source: str, codes: np.ndarray, cols: dict[str, np.ndarray]) -> np.ndarray:
        """Fold a batch of ticks given as arrays (``ts`` as int64 ns; trades: ``seq price size correction``;
        quotes: ``seq bid ask bid_size ask_size``) in arrival order; returns each tick's verdict, an index into
        :data:`marketdata.fold.REASONS` (0 = kept). Nothing is recorded in :meth:`drain_rejects`: the caller
        holds the ticks and reports the refused ones (the live path dead-letters them with their coordinates)."""
        return self._parts[source].fold(codes, cols, self.watermark)

    def _add(self, source: str, table: pa.Table, cols: dict[str, np.ndarray]) -> None:
        why = self.fold(source, self.codes(table.column("symbol")), cols)
        bad = why != 0
        if bad.any():
            self._rejects.append(rejects_table(source, table, bad, _REASONS[why]))

    def add_trades(self, trades: pa.Table) -> None:
        """Buffer a batch of trades (contract ``trades`` columns; ``correction`` optional)."""
        n = trades.num_rows
        cols = {
            "ts": trades.column("ts").cast(pa.int64()).to_numpy(),
            "seq": trades.column("seq").to_numpy(),
            "price": _floats(trades, "price"),
            "size": _floats(trades, "size"),
            "correction": trades.column("correction").fill_null(0).to_numpy().astype(np.int64)
            if "correction" in trades.column_names
            else np.zeros(n, np.int64),
        }
        self._add("trades", trades, cols)

    def add_quotes(self, quotes: pa.Table) -> None:
        """Buffer a batch of NBBO quotes (contract ``quotes`` columns)."""
        cols = {"ts": quotes.column("ts").cast(pa.int64()).to_numpy(), "seq": quotes.column("seq").to_numpy()}
        cols.update({k: _floats(quotes, k) for k in ("bid", "ask", "bid_size", "ask_size")})
        self._add("quotes", quotes, cols)

    def add_halts(self, halts: pa.Table) -> None:
        """Register halt intervals; bars whose window overlaps one are marked ``halted``."""
        if halts.num_rows == 0:
            return
        codes = self.codes(halts.column("symbol"))
        start = halts.column("start").cast(pa.int64()).to_numpy()
        end = halts.column("end").cast(pa.int64()).to_numpy()
        self._halts = np.vstack([self._halts, np.column_stack([codes, start, end])])

    def add_status(self, codes: np.ndarray, ts: np.ndarray, halted: np.ndarray) -> None:
        """Live trading status, in arrival order: a halt begins at ``ts`` (open until its end arrives) or the
        symbol's open halt ends at ``ts`` (an end without an open halt changes nothing)."""
        for c, t, h in zip(codes.tolist(), ts.tolist(), halted.tolist(), strict=True):
            if h:
                self._halts = np.vstack([self._halts, np.array([[c, t, OPEN_HALT]], np.int64)])
                continue
            open_ = np.flatnonzero((self._halts[:, 0] == c) & (self._halts[:, 2] == OPEN_HALT))
            if len(open_):
                self._halts[open_, 2] = max(t, int(self._halts[open_[-1], 1]))

    # ---- output ------------------------------------------------------------------------------------------
    def drain_rejects(self) -> pa.Table:
        """Everything refused since the last call, with reasons."""
        out = pa.concat_tables(self._rejects) if self._rejects else REJECTS.empty_table()
        self._rejects = []
        return out

    def finalize(self, watermark: int) -> pa.Table:
        """Emit every bar whose end is ``<= watermark`` (epoch ns) and advance the watermark.

        Later ticks with event time ``< watermark`` are rejected as late.
        """
        if watermark < self.watermark:
            raise ValueError(f"watermark moved backwards: {watermark} < {self.watermark}")
        prev, self.watermark = self.watermark, watermark
        t = self._parts["trades"].take(watermark)
        q = self._parts["quotes"].take(watermark)
        code, end = t["code"], t["end"]
        vwap = (t["pvi"] / PV_SCALE + t["pvr"]) / np.where(t["vol"] > 0, t["vol"], np.nan)
        cols = [t["open"], t["high"], t["low"], t["close"], t["vol"], vwap, t["n"]]
        ohlc = np.column_stack(cols).reshape(len(code), 7)
        code, end, ohlc, halted = self._add_halted_minutes(code, end, ohlc, prev, watermark)
        nbbo = self._attach_quotes(code, end, q)
        return self._table(code, end, ohlc, halted, nbbo)

    def compact(self) -> None:
        """Forget the repeat keys of finalized minutes (they can no longer change a bar): between cycles, so the
        repeat table's size follows the open minutes, never the day."""
        for p in self._parts.values():
            p.compact(self.watermark)

    # ---- state (checkpoints) --------------------------------------------------------------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        """Everything a restart needs besides the names and the watermark, as plain arrays."""
        out = {"halts": self._halts, "last_close": self._last_close, "last_quote": self._last_quote}
        for source, p in self._parts.items():
            out.update({f"{source}/{k}": v for k, v in p.state_arrays().items()})
        return out

    @classmethod
    def from_state(cls, names: list[str], watermark: int, arrays: dict[str, np.ndarray]) -> "BarAggregator":
        agg = cls()
        agg._names = list(names)
        agg._codes = {s: i for i, s in enumerate(agg._names)}
        agg.watermark = int(watermark)
        agg._halts, agg._last_close, agg._last_quote = (arrays[k].copy() for k in ("halts", "last_close", "last_quote"))
        for source in agg._parts:
            mine = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith(f"{source}/")}
            agg._parts[source] = Partials.from_arrays(source, mine, agg.watermark)
        return agg

    def _add_halted_minutes(self, code, end, ohlc, prev: int, wm: int):  # type: ignore[no-untyped-def]
        halted: np.ndarray = np.zeros(len(code), bool)
        extra_code, extra_end = [], []
        if len(self._halts):
            h = self._halts
            # bar ends e (multiples of a minute) whose window [e - 1 min, e) overlaps [start, end), not yet emitted
            first_open = (prev // NS_PER_MIN + 1) * NS_PER_MIN if prev > np.iinfo(np.int64).min else 0
            last_end = -(-h[:, 2] // NS_PER_MIN) * NS_PER_MIN
            lo = np.maximum((h[:, 1] // NS_PER_MIN + 1) * NS_PER_MIN, first_open)
            hi = np.minimum(last_end, (wm // NS_PER_MIN) * NS_PER_MIN)
            for c, a, b in zip(h[:, 0], lo, hi, strict=True):
                if a <= b:
                    stamps = np.arange(a, b + 1, NS_PER_MIN, dtype=np.int64)
                    extra_code.append(np.full(len(stamps), c))
                    extra_end.append(stamps)
            self._halts = h[last_end > wm]
        if extra_code:
            hc, he = np.concatenate(extra_code), np.concatenate(extra_end)
            hkeys = np.unique((hc << 42) | (he // NS_PER_MIN))
            keys = (code << 42) | (end // NS_PER_MIN)
            halted = np.isin(keys, hkeys)
            missing = ~np.isin(hkeys, keys)
            mk = hkeys[missing]
            code = np.concatenate([code, mk >> 42])
            end = np.concatenate([end, (mk & ((1 << 42) - 1)) * NS_PER_MIN])
            ohlc = np.vstack([ohlc, np.full((len(mk), 7), np.nan)])
            halted = np.concatenate([halted, np.ones(len(mk), bool)])
            order = np.lexsort((end, code))
            code, end, ohlc, halted = code[order], end[order], ohlc[order], halted[order]
        # flat halted bars price at the symbol's last close (carried across finalizes)
        has = ~np.isnan(ohlc[:, 3])
        src = _ffill_index(has)
        same = (src >= 0) & (code[np.maximum(src, 0)] == code)
        last = np.where(same, ohlc[np.maximum(src, 0), 3], self._last_close[code] if len(code) else 0)
        flat = ~has
        ohlc[flat, :4] = last[flat, None]
        ohlc[flat, 5] = last[flat]
        ohlc[flat, 4] = 0.0
        ohlc[flat, 6] = 0
        keep = ~np.isnan(ohlc[:, 3])  # a halted minute of a symbol never seen trading cannot be priced
        code, end, ohlc, halted = code[keep], end[keep], ohlc[keep], halted[keep]
        if len(code):
            lastrow = np.append(code[1:] != code[:-1], True)
            self._last_close[code[lastrow]] = ohlc[lastrow, 3]
        return code, end, ohlc, halted

    def _attach_quotes(self, code: np.ndarray, end: np.ndarray, q: dict[str, np.ndarray]) -> np.ndarray:
        """NBBO of each bar: the last quote with event time before the bar's end, carried across minutes."""
        out = np.full((len(code), 4), np.nan)
        qv = np.column_stack([q["bid"], q["ask"], q["bid_size"], q["ask_size"]]).reshape(len(q["code"]), 4)
        ends = np.union1d(end, q["end"])
        bo, qo = np.argsort(end, kind="stable"), np.argsort(q["end"], kind="stable")
        b_lo, b_hi = np.searchsorted(end[bo], ends, "left"), np.searchsorted(end[bo], ends, "right")
        q_lo, q_hi = np.searchsorted(q["end"][qo], ends, "left"), np.searchsorted(q["end"][qo], ends, "right")
        for i in range(len(ends)):  # minute by minute: a minute's quotes count for its bars and all later ones
            qi = qo[q_lo[i] : q_hi[i]]
            self._last_quote[q["code"][qi]] = qv[qi]
            bi = bo[b_lo[i] : b_hi[i]]
            out[bi] = self._last_quote[code[bi]]
        return out

    def _table(self, code, end, ohlc, halted, nbbo) -> pa.Table:  # type: ignore[no-untyped-def]
        if len(self._rank) != len(self._names):  # symbols by name: recomputed only when a new symbol appears
            names = np.array(self._names, dtype=object)
            self._rank = np.empty(len(names), np.int64)
            self._rank[np.argsort(names)] = np.arange(len(names))
            self._names_arrow = pa.array(self._names, pa.string())
        return bars_table(self._names_arrow, self._rank, code, end, ohlc, halted, nbbo)


def aggregate(
    trades: pa.Table, quotes: pa.Table | None = None, halts: pa.Table | None = None
) -> tuple[pa.Table, pa.Table]:
    """Batch path: the same aggregator fed whole tables and finalized once. Returns ``(bars, rejects)``."""
    agg = BarAggregator()
    if halts is not None:
        agg.add_halts(halts)
    agg.add_trades(trades)
    if quotes is not None:
        agg.add_quotes(quotes)
    ends = [trades.column("ts").cast(pa.int64()).to_numpy().max(initial=0)]
    if halts is not None and halts.num_rows:
        ends.append(halts.column("end").cast(pa.int64()).to_numpy().max())
    wm = (int(max(ends)) // NS_PER_MIN + 1) * NS_PER_MIN
    return agg.finalize(wm), agg.drain_rejects()


def _floats(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)

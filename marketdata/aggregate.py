"""Ticks -> 1-minute bars: one implementation for the batch path and the live scorer.

:class:`BarAggregator` is incremental: feed it batches of trades, quotes and halts as they arrive, then ask for
the bars a watermark finalizes. A bar stamped ``ts`` covers trades with event time in ``[ts - 60 s, ts)``; its
NBBO is the last quote with event time ``< ts``. The batch path (:func:`aggregate`) is the same class fed whole
files and finalized once. Work is vectorized over ticks, so a day of a few million ticks aggregates in seconds.

Each batch is folded on arrival into running partial bars, one row per (symbol, minute) not yet finalized (first
and last print by event time and sequence, high, low, volume, notional, count; the last quote per minute), so
finalizing a minute only selects rows: the live scorer's minute-close work does not grow with the tick count.

Refused ticks are never dropped silently: each goes to :meth:`BarAggregator.drain_rejects` with its reason —
a duplicate ``(symbol, seq)``, an event time behind the watermark, a non-positive or NaN price or size, a
crossed quote, or a print the source marks corrected or cancelled.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marketdata.buffers import _ffill_index, bars_table, rejects_table
from marketdata.partials import (
    PV_SCALE,
    QUOTE_PARTS,
    TRADE_PARTS,
    _concat,
    _empty,
    _notional,
    _reduce_quotes,
    _reduce_trades,
    _seen,
    _split,
    held_from_arrays,
    held_to_arrays,
)
from marketdata.schemas import NS_PER_MIN, REJECTS

SEQ_BITS = 40


class BarAggregator:
    """Incremental tick-to-bar aggregator with a watermark; see the module docstring."""

    def __init__(self) -> None:
        self.watermark = np.iinfo(np.int64).min
        self._names: list[str] = []
        self._codes: dict[str, int] = {}
        self._tp: dict[str, np.ndarray] = _empty(TRADE_PARTS)  # partial bars, sorted by (code, end)
        self._qp: dict[str, np.ndarray] = _empty(QUOTE_PARTS)  # last quote per (code, end)
        self._held: dict[str, list[tuple[np.ndarray, int]]] = {"trades": [], "quotes": []}  # sorted keys, max end
        self._halts: np.ndarray = np.empty((0, 3), dtype=np.int64)  # code, start, end
        self._last_close: np.ndarray = np.full(0, np.nan)
        self._last_quote: np.ndarray = np.full((0, 4), np.nan)
        self._rejects: list[pa.Table] = []
        self._rank: np.ndarray = np.empty(0, np.int64)

    # ---- input -------------------------------------------------------------------------------------------
    def _encode(self, symbols: pa.ChunkedArray | pa.Array) -> np.ndarray:
        for s in pc.unique(symbols).to_pylist():
            if s not in self._codes:
                self._codes[s] = len(self._names)
                self._names.append(s)
        n = len(self._names)
        if len(self._last_close) < n:
            grow = n - len(self._last_close)
            self._last_close = np.concatenate([self._last_close, np.full(grow, np.nan)])
            self._last_quote = np.vstack([self._last_quote, np.full((grow, 4), np.nan)])
        return pc.index_in(symbols, value_set=pa.array(self._names)).to_numpy(zero_copy_only=False).astype(np.int64)

    def _reject(self, source: str, table: pa.Table, mask: np.ndarray, reason: np.ndarray | str) -> None:
        if not mask.any():
            return
        self._rejects.append(rejects_table(source, table, mask, reason))

    def _screen(self, source: str, table: pa.Table, bad: np.ndarray, why: np.ndarray) -> np.ndarray:
        """Reject bad, late and duplicate rows; return the codes of the rows to keep (and the keep mask)."""
        ts = table.column("ts").cast(pa.int64()).to_numpy()
        seq = table.column("seq").to_numpy()
        codes = self._encode(table.column("symbol"))
        late = ~bad & (ts < self.watermark)
        why = np.where(late, "event time behind watermark", why)
        keys = (codes << SEQ_BITS) | (seq & ((1 << SEQ_BITS) - 1))
        _, first = np.unique(keys, return_index=True)
        repeat = np.ones(len(keys), bool)
        repeat[first] = False
        dup = ~bad & ~late & (repeat | _seen(keys, self._held[source]))
        why = np.where(dup, "duplicate (symbol, seq)", why)
        rejected = bad | late | dup
        self._reject(source, table, rejected, why)
        self._keep_codes = codes[~rejected]
        kept = keys[~rejected]
        if len(kept):
            end = (ts[~rejected] // NS_PER_MIN + 1) * NS_PER_MIN
            self._held[source].append((np.sort(kept), int(end.max())))
        return ~rejected

    def add_trades(self, trades: pa.Table) -> None:
        """Buffer a batch of trades (contract ``trades`` columns; ``correction`` optional)."""
        price = trades.column("price").to_numpy(zero_copy_only=False).astype(float)
        size = trades.column("size").to_numpy(zero_copy_only=False).astype(float)
        corr = (
            trades.column("correction").fill_null(0).to_numpy().astype(int)
            if "correction" in trades.column_names
            else np.zeros(trades.num_rows, int)
        )
        why = np.full(trades.num_rows, "", dtype=object)
        why[~(size > 0)] = "non-positive or NaN size"
        why[~(price > 0)] = "non-positive or NaN price"
        why[corr != 0] = "corrected or cancelled by the source"
        keep = self._screen("trades", trades, why != "", why)
        ts = trades.column("ts").cast(pa.int64()).to_numpy()[keep]
        seq = trades.column("seq").to_numpy()[keep]
        p, v = price[keep], size[keep]
        end = (ts // NS_PER_MIN + 1) * NS_PER_MIN
        pvi, pvr = _notional(p, v)
        batch = dict(
            code=self._keep_codes, end=end, fts=ts, fseq=seq, open=p, lts=ts, lseq=seq, close=p,
            high=p, low=p, vol=v, pvi=pvi, pvr=pvr, n=np.ones(len(ts)),
        )  # fmt: skip
        self._tp = _reduce_trades(_concat(self._tp, batch))

    def add_quotes(self, quotes: pa.Table) -> None:
        """Buffer a batch of NBBO quotes (contract ``quotes`` columns)."""
        cols = {
            k: quotes.column(k).to_numpy(zero_copy_only=False).astype(float)
            for k in ("bid", "ask", "bid_size", "ask_size")
        }
        why = np.full(quotes.num_rows, "", dtype=object)
        why[(cols["bid_size"] < 0) | (cols["ask_size"] < 0) | np.isnan(cols["bid_size"] + cols["ask_size"])] = (
            "negative or NaN size"
        )
        why[cols["bid"] > cols["ask"]] = "crossed quote (bid > ask)"
        why[~(cols["bid"] > 0) | ~(cols["ask"] > 0)] = "non-positive or NaN bid/ask"
        keep = self._screen("quotes", quotes, why != "", why)
        ts = quotes.column("ts").cast(pa.int64()).to_numpy()[keep]
        seq = quotes.column("seq").to_numpy()[keep]
        end = (ts // NS_PER_MIN + 1) * NS_PER_MIN
        batch = dict(code=self._keep_codes, end=end, ts=ts, seq=seq, **{k: v[keep] for k, v in cols.items()})
        self._qp = _reduce_quotes(_concat(self._qp, batch))

    def add_halts(self, halts: pa.Table) -> None:
        """Register halt intervals; bars whose window overlaps one are marked ``halted``."""
        if halts.num_rows == 0:
            return
        codes = self._encode(halts.column("symbol"))
        start = halts.column("start").cast(pa.int64()).to_numpy()
        end = halts.column("end").cast(pa.int64()).to_numpy()
        self._halts = np.vstack([self._halts, np.column_stack([codes, start, end])])

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
        t, self._tp = _split(self._tp, self._tp["end"] <= watermark)
        q, self._qp = _split(self._qp, self._qp["end"] <= watermark)
        for source in self._held:  # keys of ticks in finalized minutes: any repeat is now late anyway
            self._held[source] = [(k, e) for k, e in self._held[source] if e > watermark]
        code, end = t["code"], t["end"]
        vwap = (t["pvi"] / PV_SCALE + t["pvr"]) / np.where(t["vol"] > 0, t["vol"], np.nan)
        cols = [t["open"], t["high"], t["low"], t["close"], t["vol"], vwap, t["n"]]
        ohlc = np.column_stack(cols).reshape(len(code), 7)
        code, end, ohlc, halted = self._add_halted_minutes(code, end, ohlc, prev, watermark)
        nbbo = self._attach_quotes(code, end, q)
        return self._table(code, end, ohlc, halted, nbbo)

    # ---- state (checkpoints) --------------------------------------------------------------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        """Everything a restart needs besides the names and the watermark, as plain arrays."""
        out = {"halts": self._halts, "last_close": self._last_close, "last_quote": self._last_quote}
        out.update({f"tp/{k}": v for k, v in self._tp.items()})
        out.update({f"qp/{k}": v for k, v in self._qp.items()})
        out.update(held_to_arrays(self._held))
        return out

    @classmethod
    def from_state(cls, names: list[str], watermark: int, arrays: dict[str, np.ndarray]) -> "BarAggregator":
        agg = cls()
        agg._names = list(names)
        agg._codes = {s: i for i, s in enumerate(agg._names)}
        agg.watermark = int(watermark)
        agg._halts, agg._last_close, agg._last_quote = (arrays[k].copy() for k in ("halts", "last_close", "last_quote"))
        agg._tp = {k: arrays[f"tp/{k}"].copy() for k in TRADE_PARTS}
        agg._qp = {k: arrays[f"qp/{k}"].copy() for k in QUOTE_PARTS}
        agg._held = held_from_arrays(arrays, list(agg._held))
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
        names = np.array(self._names, dtype=object)
        if len(self._rank) != len(names):  # symbols by name: recomputed only when a new symbol appears
            self._rank = np.empty(len(names), np.int64)
            self._rank[np.argsort(names)] = np.arange(len(names))
        return bars_table(names, self._rank, code, end, ohlc, halted, nbbo)


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

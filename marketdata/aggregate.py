"""Ticks -> 1-minute bars: one implementation for the batch path and the live scorer.

:class:`BarAggregator` is incremental: feed it batches of trades, quotes and halts as they arrive, then ask for
the bars a watermark finalizes. A bar stamped ``ts`` covers trades with event time in ``[ts - 60 s, ts)``; its
NBBO is the last quote with event time ``< ts``. The batch path (:func:`aggregate`) is the same class fed whole
files and finalized once. Work is vectorized over ticks, so a day of a few million ticks aggregates in seconds.

Refused ticks are never dropped silently: each goes to :meth:`BarAggregator.drain_rejects` with its reason —
a duplicate ``(symbol, seq)``, an event time behind the watermark, a non-positive or NaN price or size, a
crossed quote, or a print the source marks corrected or cancelled.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marketdata.buffers import _Buffer, _ffill_index, rejects_table
from marketdata.schemas import BARS_1M, NS_PER_MIN, REJECTS, TS

SEQ_BITS = 40


class BarAggregator:
    """Incremental tick-to-bar aggregator with a watermark; see the module docstring."""

    def __init__(self) -> None:
        self.watermark = np.iinfo(np.int64).min
        self._names: list[str] = []
        self._codes: dict[str, int] = {}
        self._trades = _Buffer()
        self._quotes = _Buffer()
        self._halts: np.ndarray = np.empty((0, 3), dtype=np.int64)  # code, start, end
        self._last_close: np.ndarray = np.full(0, np.nan)
        self._last_quote: np.ndarray = np.full((0, 4), np.nan)
        self._rejects: list[pa.Table] = []

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

    def _screen(self, source: str, table: pa.Table, bad: np.ndarray, why: np.ndarray, buf: _Buffer) -> np.ndarray:
        """Reject bad, late and duplicate rows; return the codes of the rows to keep (and the keep mask)."""
        ts = table.column("ts").cast(pa.int64()).to_numpy()
        seq = table.column("seq").to_numpy()
        codes = self._encode(table.column("symbol"))
        late = ~bad & (ts < self.watermark)
        why = np.where(late, "event time behind watermark", why)
        keys = (codes << SEQ_BITS) | (seq & ((1 << SEQ_BITS) - 1))
        held = np.concatenate(buf.cols.get("key", [np.empty(0, np.int64)]))
        _, first = np.unique(keys, return_index=True)
        repeat = np.ones(len(keys), bool)
        repeat[first] = False
        dup = ~bad & ~late & (repeat | np.isin(keys, held))
        why = np.where(dup, "duplicate (symbol, seq)", why)
        rejected = bad | late | dup
        self._reject(source, table, rejected, why)
        self._keep_codes, self._keep_keys = codes[~rejected], keys[~rejected]
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
        keep = self._screen("trades", trades, why != "", why, self._trades)
        ts = trades.column("ts").cast(pa.int64()).to_numpy()[keep]
        seq = trades.column("seq").to_numpy()[keep]
        self._trades.append(
            code=self._keep_codes, ts=ts, seq=seq, price=price[keep], size=size[keep], key=self._keep_keys
        )

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
        keep = self._screen("quotes", quotes, why != "", why, self._quotes)
        ts = quotes.column("ts").cast(pa.int64()).to_numpy()[keep]
        seq = quotes.column("seq").to_numpy()[keep]
        self._quotes.append(
            code=self._keep_codes, ts=ts, seq=seq, key=self._keep_keys, **{k: v[keep] for k, v in cols.items()}
        )

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
        t = self._take_ready(self._trades, lambda b: (b["ts"] // NS_PER_MIN + 1) * NS_PER_MIN <= watermark)
        q = self._take_ready(self._quotes, lambda b: b["ts"] < watermark)
        code, end, ohlc = self._trade_bars(t)
        code, end, ohlc, halted = self._add_halted_minutes(code, end, ohlc, prev, watermark)
        nbbo = self._attach_quotes(code, end, q)
        return self._table(code, end, ohlc, halted, nbbo)

    def _take_ready(self, buf: _Buffer, ready_fn) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
        if not len(buf):
            return {}
        b = buf.take()
        ready = ready_fn(b)
        if not ready.all():
            buf.append(**{k: v[~ready] for k, v in b.items()})
        return {k: v[ready] for k, v in b.items()}

    @staticmethod
    def _trade_bars(t: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not t or not len(t["ts"]):
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, 7))
        end = (t["ts"] // NS_PER_MIN + 1) * NS_PER_MIN
        order = np.lexsort((t["seq"], t["ts"], end, t["code"]))
        code, end, price, size = t["code"][order], end[order], t["price"][order], t["size"][order]
        new = np.ones(len(code), bool)
        new[1:] = (code[1:] != code[:-1]) | (end[1:] != end[:-1])
        starts = np.flatnonzero(new)
        lasts = np.append(starts[1:], len(code)) - 1
        vol = np.add.reduceat(size, starts)
        pv = np.add.reduceat(price * size, starts)
        ohlc = np.column_stack(
            [
                price[starts],
                np.maximum.reduceat(price, starts),
                np.minimum.reduceat(price, starts),
                price[lasts],
                vol,
                pv / vol,
                lasts - starts + 1,
            ]
        )
        return code[starts], end[starts], ohlc

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
        out = self._last_quote[code] if len(code) else np.empty((0, 4))
        if q and len(q["ts"]):
            qv = np.column_stack([q["bid"], q["ask"], q["bid_size"], q["ask_size"]])
            n_b = len(code)
            all_code = np.concatenate([code, q["code"]])
            all_ts = np.concatenate([end, q["ts"]])
            kind = np.concatenate([np.zeros(n_b, np.int8), np.ones(len(q["ts"]), np.int8)])
            seq = np.concatenate([np.zeros(n_b, np.int64), q["seq"]])
            order = np.lexsort((seq, kind, all_ts, all_code))
            is_q = order >= n_b
            src = _ffill_index(is_q)
            srow = np.maximum(src, 0)
            hit = (src >= 0) & (all_code[order][srow] == all_code[order])
            bar_pos = np.flatnonzero(~is_q)
            found = hit[bar_pos]
            q_index = order[srow[bar_pos]] - n_b
            bar_index = order[bar_pos]
            out = out.copy()
            out[bar_index[found]] = qv[q_index[found]]
            qo = np.lexsort((q["seq"], q["ts"], q["code"]))
            qc = q["code"][qo]
            last = np.append(qc[1:] != qc[:-1], True)
            self._last_quote[qc[last]] = qv[qo][last]
        return out

    def _table(self, code, end, ohlc, halted, nbbo) -> pa.Table:  # type: ignore[no-untyped-def]
        names = np.array(self._names, dtype=object)
        rank = np.empty(len(names), np.int64)
        rank[np.argsort(names)] = np.arange(len(names))
        order = np.lexsort((rank[code], end))  # minute by minute, symbols by name: independent of arrival order
        code, end, ohlc, halted, nbbo = code[order], end[order], ohlc[order], halted[order], nbbo[order]

        def f(a: np.ndarray) -> pa.Array:
            return pa.array(a, pa.float64(), mask=np.isnan(a))

        return pa.table(
            {
                "symbol": pa.array(names[code].tolist() if len(code) else [], pa.string()),
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

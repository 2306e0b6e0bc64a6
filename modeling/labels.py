"""Labels: triple barrier (binary and 3-class), fixed horizon, CUSUM event sampling, uniqueness weights.

Binary triple-barrier labels are directional: 1 when the upper barrier is touched first, 0 when the lower is, and
for a window that reaches the vertical barrier the sign of its return. "Up first vs anything else" would lump
timeouts with downs and make the label predictable from volatility alone; this way a market with no direction
to predict gives a 50/50 label whatever the features.

A label stamped ``t`` uses only prices strictly after ``t`` (the barrier test starts at the next minute) and
sigma known at ``t``. A window never crosses the session close or a halt; a row whose window cannot complete
(end of data, end of session, a halt inside) is dropped, never guessed.
"""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marketdata.quotes import usable_quote
from marketdata.schemas import LABELS, NS_PER_MIN, TS
from modeling.grid import DayGrid, day_grids, ewm_vol, on_mid

PRICES = ("close", "mid")


@dataclass(frozen=True)
class LabelConfig:
    horizon: int = 5  # minutes to the vertical barrier
    k_up: float = 1.5
    k_dn: float = 1.5
    vol_halflife: float = 30.0
    kind: str = "triple_barrier"  # or "fixed_horizon"
    theta: float = 0.001  # fixed-horizon threshold
    three_class: bool = False
    cusum: float | None = None  # CUSUM threshold in units of sigma; None = every bar is an event
    min_obs: int = 5  # bars in the session before sigma is trusted
    price: str = "close"  # or "mid": the NBBO mid at each bar's end (no bid-ask bounce; grid.on_mid)

    def __post_init__(self) -> None:
        if self.price not in PRICES:
            raise ValueError(f"LabelConfig.price must be one of {PRICES}, got {self.price!r}")
        if self.kind not in ("triple_barrier", "fixed_horizon"):
            raise ValueError(f"LabelConfig.kind must be triple_barrier or fixed_horizon, got {self.kind!r}")
        if self.horizon < 1 or self.min_obs < 1:
            raise ValueError(f"LabelConfig.horizon and min_obs must be at least 1, got {self.horizon}, {self.min_obs}")
        for name in ("k_up", "k_dn", "vol_halflife"):  # a barrier at the price, or no volatility memory
            if not getattr(self, name) > 0:
                raise ValueError(f"LabelConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.cusum is not None and not self.cusum >= 0:
            raise ValueError(f"LabelConfig.cusum must be >= 0 (in units of sigma) or None, got {self.cusum}")


def _events(g: DayGrid, sig: np.ndarray, cusum: float | None) -> np.ndarray:
    """(T, n) event mask: every live bar, or the symmetric CUSUM filter on log returns scaled by sigma."""
    live = g.present & ~g.halted
    if cusum is None:
        return live
    T, n = live.shape
    out = np.zeros((T, n), bool)
    pos, neg = np.zeros(n), np.zeros(n)
    last = np.full(n, np.nan)
    for t in range(T):
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(live[t] & ~np.isnan(last), np.log(g.close[t] / last), 0.0)
        pos, neg = np.maximum(0, pos + r), np.minimum(0, neg + r)
        thr = np.where(np.isnan(sig[t]), np.inf, cusum * sig[t])  # no sigma yet: no event (also when cusum is 0)
        hit = live[t] & ((pos > thr) | (-neg > thr))
        out[t] = hit
        pos[hit], neg[hit] = 0.0, 0.0
        last = np.where(live[t], g.close[t], last)
    return out


def label_day(g: DayGrid, sig: np.ndarray, cfg: LabelConfig, data_end: int) -> dict[str, np.ndarray]:
    """Labels for one session grid (vectorized over symbols, a loop over the h minutes ahead).

    ``data_end`` is the last bar stamp in the data: a window reaching past it cannot complete and is dropped.
    """
    T, n = g.close.shape
    h = cfg.horizon
    ev = _events(g, sig, cfg.cusum)
    ev[max(T - h, 0) :] = False  # the window would cross the close
    c0 = g.close
    up_b = c0 * np.exp(cfg.k_up * sig)
    dn_b = c0 * np.exp(-cfg.k_dn * sig)
    touch = np.zeros((T, n), np.int64)  # 0 = no touch yet; j = minutes to the first touch
    side = np.zeros((T, n), np.int8)
    bad = np.zeros((T, n), bool)
    end_close = np.full((T, n), np.nan)  # close of the touching bar
    last_close = c0.copy()  # last close inside the window (the vertical barrier's price)
    for j in range(1, h + 1):
        hi, lo, cl = (np.full((T, n), np.nan) for _ in range(3))
        hal = np.zeros((T, n), bool)
        hi[: T - j], lo[: T - j], cl[: T - j], hal[: T - j] = g.high[j:], g.low[j:], g.close[j:], g.halted[j:]
        bad |= hal
        fresh = touch == 0
        hit_up, hit_dn = fresh & (hi >= up_b), fresh & (lo <= dn_b)
        both = hit_up & hit_dn  # both inside one bar: the bar's close decides
        new_side = np.where(both, np.sign(np.nan_to_num(cl - c0)), np.where(hit_up, 1, -1))
        hit = hit_up | hit_dn
        side = np.where(hit, new_side, side).astype(np.int8)
        end_close = np.where(hit, cl, end_close)
        touch = np.where(hit, j, touch)
        last_close = np.where(~np.isnan(cl), cl, last_close)
    seen = np.cumsum(g.present & ~g.halted, axis=0)  # bars so far this session: sigma needs a few returns
    keep = ev & ~bad & (seen >= cfg.min_obs) & ~np.isnan(sig) & (sig > 0)
    keep &= g.stamps[:, None] + h * NS_PER_MIN <= data_end
    if cfg.kind == "fixed_horizon":
        ret = np.log(last_close / c0)
        label = (ret > cfg.theta).astype(np.int8)
        t1_min = np.full((T, n), h)
    else:
        ret = np.log(np.where(touch > 0, end_close, last_close) / c0)
        t1_min = np.where(touch > 0, touch, h)
        if cfg.three_class:
            label = side
        else:
            # direction: the barrier touched first, else the sign at the vertical barrier; a flat window has
            # no direction and is dropped (counting it as "down" would make liquidity look predictive)
            direction = np.where(touch > 0, side, np.sign(np.nan_to_num(ret)))
            keep &= direction != 0
            label = (direction > 0).astype(np.int8)
    tt, ii = np.nonzero(keep)
    ts = g.stamps[tt]
    return {
        "symbol": g.symbols[ii],
        "ts": ts,
        "t1": ts + t1_min[tt, ii] * NS_PER_MIN,
        "label": label[tt, ii].astype(np.int8),
        "ret": ret[tt, ii],
    }


def uniqueness_weights(symbol: np.ndarray, ts: np.ndarray, t1: np.ndarray) -> np.ndarray:
    """Average uniqueness (Lopez de Prado 4.4): mean over a label's minutes (ts, t1] of 1 / concurrency,
    where concurrency counts the same symbol's labels whose spans cover the minute."""
    w = np.ones(len(ts))
    order = np.lexsort((ts, symbol))
    sym_o = symbol[order]
    starts = np.r_[0, np.flatnonzero(sym_o[1:] != sym_o[:-1]) + 1, len(order)]
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        rows = order[a:b]
        m0 = ts[rows] // NS_PER_MIN
        base = m0.min()
        s = (m0 - base).astype(np.int64)
        e = (t1[rows] // NS_PER_MIN - base).astype(np.int64)
        conc = np.zeros(e.max() + 2)
        np.add.at(conc, s + 1, 1)
        np.add.at(conc, e + 1, -1)
        conc = np.cumsum(conc)
        inv = np.where(conc > 0, 1.0 / np.maximum(conc, 1), 0.0)
        pref = np.r_[0.0, np.cumsum(inv)]
        w[rows] = (pref[e + 1] - pref[s + 1]) / np.maximum(e - s, 1)
    return w


def has_quotes(bars: pa.Table) -> bool:
    """Whether any of ``bars`` carries a two-sided quote (a finite bid and ask)."""
    two = pc.and_(pc.is_finite(bars.column("bid")), pc.is_finite(bars.column("ask")))
    return bool(pc.any(two).as_py())


def forward_returns(bars: pa.Table, horizon: int, vol_halflife: float = LabelConfig.vol_halflife) -> pa.Table:
    """``(symbol, ts, fwd)``: the log return a taker books from each bar over ``horizon`` minutes, whatever price
    the labels are made on: the NBBO mid at the bars' ends when the bars carry quotes (the costs, half the quoted
    spread a side, are charged on top by the backtest), else the close (vendor bars without quotes: the only price
    there is). A close printed at the bid or the ask would credit a model with bid-ask bounce that no taker earns
    (decision 023). A bar without a two-sided quote then has no forward return, so it is not traded."""
    price = "mid" if has_quotes(bars) else "close"
    cfg = LabelConfig(horizon=horizon, kind="fixed_horizon", vol_halflife=vol_halflife, price=price)
    return make_labels(bars, cfg).select(["symbol", "ts", "ret"]).rename_columns(["symbol", "ts", "fwd"])


def half_spreads(bars: pa.Table) -> pa.Table:
    """``(symbol, ts, half_spread, quoted, halted)``: the half spread a taker pays a side on top of the mid (the
    price :func:`forward_returns` books), as a fraction of the mid. ``quoted`` says whether the bar has a usable
    two-sided quote of its own (bid > 0, ask >= bid: what the spread features use); a bar without one gets its
    symbol's last usable half spread before it (the best estimate known then: a lost quote does not make trading
    free), null if the symbol had none yet. Rows keep the input's order.

    >>> b = pa.table({"symbol": ["A", "B", "A", "A"], "ts": [1, 1, 2, 3], "bid": [9.9, None, None, 10.2],
    ...               "ask": [10.1, 10.0, 10.1, 10.1], "halted": [False] * 4})  # fmt: skip
    >>> t = half_spreads(b)
    >>> [round(v, 4) if v is not None else None for v in t.column("half_spread").to_pylist()]
    [0.01, None, 0.01, 0.01]
    >>> t.column("quoted").to_pylist()
    [True, False, False, False]
    """
    bid, ask = bars.column("bid"), bars.column("ask")
    quoted = usable_quote(bars)
    own = pc.divide(pc.subtract(ask, bid), pc.add(ask, bid))  # (ask - bid) / 2 over (ask + bid) / 2
    own = np.where(quoted, own.to_numpy(zero_copy_only=False).astype(float), np.nan)
    order = pc.sort_indices(bars, [("symbol", "ascending"), ("ts", "ascending")]).to_numpy()
    sym = bars.column("symbol").take(order)
    filled = np.full(len(order), np.nan)
    if len(order):
        start = np.r_[True, pc.not_equal(sym[1:], sym[:-1]).to_numpy(zero_copy_only=False)]
        pos = np.maximum.accumulate(np.where(quoted[order] | start, np.arange(len(order)), 0))
        filled[order] = own[order][pos]  # the symbol's last usable quote at or before the bar (NaN: none yet)
    cols = {
        "symbol": bars.column("symbol"),
        "ts": bars.column("ts"),
        "half_spread": pa.array(filled, pa.float64(), from_pandas=True),
        "quoted": pa.array(quoted, pa.bool_()),
        "halted": bars.column("halted"),
    }
    return pa.table(cols)


def make_labels(bars: pa.Table, cfg: LabelConfig | None = None) -> pa.Table:
    """Labels for every session in ``bars`` (contract ``labels`` table)."""
    cfg = cfg or LabelConfig()
    grids = day_grids(bars)
    if cfg.price == "mid":
        grids = [on_mid(g) for g in grids]
        if grids and not any(g.present.any() for g in grids):
            raise ValueError(
                "labels on the mid need the bars' NBBO, and none of these bars has a two-sided quote (bid and ask): "
                "label them on the close"
            )
    parts = []
    for g in grids:
        if not g.present.any():
            continue  # a session without a quote has no mid to label on
        # sigma restarts every session: a day's labels depend on that day only, so a daily partition equals the
        # continuous computation, and no overnight gap enters sigma. So does the end of the data: a session
        # whose bars stop before the close (a truncated feed) drops the windows past its last bar, as a
        # partition of that session alone would, instead of scoring them on bars that are not there.
        sig, _ = ewm_vol(g, cfg.vol_halflife)
        parts.append(label_day(g, sig, cfg, int(g.stamps[g.present.any(axis=1)].max())))
    if not sum(len(p["ts"]) for p in parts):
        return LABELS.empty_table()
    cols = {k: np.concatenate([p[k] for p in parts]) for k in ("symbol", "ts", "t1", "label", "ret")}
    w = uniqueness_weights(cols["symbol"], cols["ts"], cols["t1"])
    t = pa.table(
        {
            "symbol": pa.array(cols["symbol"].tolist(), pa.string()),
            "ts": pa.array(cols["ts"], pa.int64()).cast(TS),
            "t1": pa.array(cols["t1"], pa.int64()).cast(TS),
            "label": pa.array(cols["label"], pa.int8()),
            "ret": cols["ret"],
            "weight": w,
        },
        schema=LABELS,
    )
    return t.sort_by([("ts", "ascending"), ("symbol", "ascending")])

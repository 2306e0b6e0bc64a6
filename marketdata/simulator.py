"""A market simulator with the stylized facts a quant checks first.

Returns are a market factor (SPY) plus 11 sector factors (the sector ETFs) plus idiosyncratic noise, with
Student-t shocks (fat tails), GARCH(1,1) clustering within the day and log-AR(1) volatility across days,
U-shaped intraday volatility, volume and spreads, liquidity tied to market cap, empty minutes for illiquid
names, splits and cash dividends (raw prices jump on the ex-date), LULD-style halts, and a tunable lead-lag:
a stock shows ``lead_lag`` of its systematic (leader-driven) return one minute late. With ``lead_lag=0`` the
bars are a martingale and nothing is predictable. ``regime_shift_day`` starts a crisis regime from that day on:
volatility and spreads jump and the factor loadings change.

Bars here are built from the mid path (no bid-ask bounce). ``--ticks`` makes trades print at the bid or ask,
and bars aggregated from them inherit the bounce, as real bars do.
"""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa

from marketdata.calendar import bar_stamps, sessions
from marketdata.schemas import BARS_1M, CORPORATE_ACTIONS, HALTS, TS
from marketdata.universe import Universe, intraday_shape, make_universe

MKT_VOL = 0.15 / np.sqrt(252 * 390)
SEC_VOL = 0.10 / np.sqrt(252 * 390)
T_DF = 4.0
# A regime shift is a break well outside the day-to-day volatility clustering (a crisis: market and sector
# volatility x2.5, idiosyncratic x2, spreads x2, market betas down, sector betas up, half the lead-lag).
SHIFT_VOL, SHIFT_IDIO, SHIFT_SPREAD = 2.5, 2.0, 2.0


@dataclass(frozen=True)
class SimConfig:
    """Knobs of the simulated market. Same config and seed, same market, bit for bit."""

    symbols: int = 500
    days: int = 5
    seed: int = 1
    start: dt.date = dt.date(2026, 3, 2)
    lead_lag: float = 0.25
    regime_shift_day: int | None = None
    split_rate: float = 4e-4
    dividend_rate: float = 4e-3
    jump_rate: float = 2e-5

    def __post_init__(self) -> None:
        """Refuse a config that would simulate nothing, or not what it says, naming the field (and its option)."""
        if self.days < 1:
            raise ValueError(f"SimConfig.days (--days) must be at least 1, got {self.days}")
        if not -1.0 <= self.lead_lag <= 1.0:  # also refuses NaN
            raise ValueError(
                f"SimConfig.lead_lag (--lead-lag) is a share of the leader's return, in [-1, 1]: got {self.lead_lag}"
            )
        shift = self.regime_shift_day
        if shift is not None and not 0 <= shift < self.days:
            raise ValueError(
                f"SimConfig.regime_shift_day (--regime-shift) {shift} is not one of the {self.days} simulated days "
                f"(0-based: 0..{self.days - 1}): no crisis would be simulated"
            )
        for name in ("split_rate", "dividend_rate", "jump_rate"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"SimConfig.{name} must be a rate >= 0, got {getattr(self, name)}")


@dataclass
class SimDay:
    """One simulated session: the bars and the latent detail the tick generator needs."""

    date: dt.date
    bars: pa.Table
    halts: pa.Table
    # aligned with the rows of ``bars``: mid at the bar's open, half spread in price units, 1-min sigma
    open_mid: np.ndarray = field(repr=False)
    sigma: np.ndarray = field(repr=False)
    half_spread: np.ndarray = field(repr=False)


def _t_shocks(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_t(T_DF, size=shape) / np.sqrt(T_DF / (T_DF - 2))


class MarketSimulator:
    """Generates sessions one at a time; state (prices, volatility, corporate actions) carries over."""

    def __init__(self, cfg: SimConfig):
        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed)
        self.u: Universe = make_universe(cfg.symbols, self.rng)
        n = cfg.symbols
        self.log_tr = np.log(self.u.price0)  # total-return log price (no corporate-action jumps)
        self.adj: np.ndarray = np.ones(n)  # raw price = exp(log_tr) * adj
        self.day_vol_mkt = 0.0
        self.day_vol_sym: np.ndarray = np.zeros(n)
        self.garch: np.ndarray = np.ones(n + 12)  # per symbol, then market and 11 sector factors
        self.last_sys: np.ndarray = np.zeros(n)
        self.actions: list[tuple[str, dt.date, float, float]] = []
        self.dates = sessions(cfg.start, cfg.days)

    def reference(self) -> pa.Table:
        return self.u.reference()

    def corporate_actions(self) -> pa.Table:
        sym, date, ratio, cash = zip(*self.actions, strict=True) if self.actions else ([], [], [], [])
        return pa.table(
            {"symbol": list(sym), "ex_date": list(date), "split_ratio": list(ratio), "cash_dividend": list(cash)},
            schema=CORPORATE_ACTIONS,
        )

    def days(self) -> Iterator[SimDay]:
        for i, d in enumerate(self.dates):
            yield self._day(i, d)

    def _corporate_actions(self, d: dt.date) -> None:
        u, rng, n = self.u, self.rng, self.cfg.symbols
        price = np.exp(self.log_tr) * self.adj
        stock = ~u.is_etf
        split = stock & (rng.random(n) < self.cfg.split_rate * np.where(price > 150, 4, 1))
        ratio = np.where(price > 150, rng.choice([2.0, 3.0, 4.0], n), rng.choice([2.0, 0.5], n))
        divi = stock & ~split & (rng.random(n) < self.cfg.dividend_rate)
        cash = np.round(price * rng.uniform(0.002, 0.012, n), 2)
        for i in np.flatnonzero(split):
            self.adj[i] /= ratio[i]
            self.actions.append((str(u.symbols[i]), d, float(ratio[i]), 0.0))
        for i in np.flatnonzero(divi & (cash > 0)):
            self.adj[i] *= 1.0 - cash[i] / price[i]
            self.actions.append((str(u.symbols[i]), d, 1.0, float(cash[i])))

    def _day(self, index: int, d: dt.date) -> SimDay:
        cfg, u, rng, n = self.cfg, self.u, self.rng, self.cfg.symbols
        shifted = cfg.regime_shift_day is not None and index >= cfg.regime_shift_day
        if index > 0:
            self._corporate_actions(d)
        stamps = bar_stamps(d)
        T = len(stamps)
        vol_u, volume_u, spread_u = intraday_shape(T)
        # volatility clustering across days: log-AR(1) multipliers for the market and each symbol
        self.day_vol_mkt = 0.75 * self.day_vol_mkt + rng.normal(0, 0.3)
        self.day_vol_sym = 0.75 * self.day_vol_sym + rng.normal(0, 0.25, n)
        shift_vol = SHIFT_VOL if shifted else 1.0
        m_vol = MKT_VOL * np.exp(self.day_vol_mkt) * shift_vol
        s_vol = SEC_VOL * np.exp(self.day_vol_mkt / 2) * shift_vol
        i_vol = u.idio_vol * np.exp(self.day_vol_sym) * (SHIFT_IDIO if shifted else 1.0)
        beta_m = u.beta_mkt * (0.6 if shifted else 1.0)
        beta_s = np.where(u.is_etf, u.beta_sec, u.beta_sec * (1.8 if shifted else 1.0))
        sector = np.maximum(u.sector, 0)
        # overnight gap, then the session
        gap = beta_m * m_vol * 12 * rng.standard_normal() + i_vol * 12 * rng.standard_normal(n)
        self.log_tr += gap
        ret = np.empty((T, n))
        jumps = rng.random((T, n)) < cfg.jump_rate
        jump_size = _t_shocks(rng, (T, n)) * 0.04 * jumps
        for t in range(T):
            z = _t_shocks(rng, (n + 12,))
            h = self.garch
            shocks = z * np.sqrt(h)
            self.garch = 0.02 + 0.08 * z**2 + 0.90 * h
            mkt = m_vol * vol_u[t] * shocks[n]
            sec = s_vol * vol_u[t] * shocks[n + 1 :]
            sys = beta_m * mkt + np.where(u.sector >= 0, beta_s * sec[sector], 0.0)
            lag = np.where(u.is_etf, 0.0, cfg.lead_lag * (0.5 if shifted else 1.0)) * self.last_sys
            ret[t] = sys + lag + i_vol * vol_u[t] * shocks[:n] + jump_size[t]
            self.last_sys = sys
        self.last_sys[:] = 0.0  # the lag does not cross the overnight gap
        sigma = np.sqrt((beta_m * m_vol) ** 2 + (beta_s * s_vol) ** 2 + i_vol**2)[None, :] * vol_u[:, None]
        log_mid = self.log_tr[None, :] + np.cumsum(ret, axis=0)
        open_log = np.vstack([self.log_tr[None, :], log_mid[:-1]])
        self.log_tr = log_mid[-1].copy()
        mid = np.exp(log_mid) * self.adj
        open_mid = np.exp(open_log) * self.adj
        halted = self._halts(mid, u.luld_band)
        spread_u = spread_u * (SHIFT_SPREAD if shifted else 1.0)
        return self._assemble(d, stamps, mid, open_mid, sigma, halted, volume_u, spread_u)

    def _halts(self, mid: np.ndarray, band: np.ndarray) -> np.ndarray:
        """LULD-style: a move past the band within 5 minutes halts the symbol for the next 5 minutes."""
        T, n = mid.shape
        halted = np.zeros((T, n), dtype=bool)
        until = np.full(n, -1)
        for t in range(5, T):
            move = np.abs(mid[t] / mid[t - 5] - 1.0)
            trigger = (move > band) & (until < t)
            until = np.where(trigger, t + 5, until)
            halted[t] = until >= t + 1
        return halted

    def _assemble(self, d, stamps, mid, open_mid, sigma, halted, volume_u, spread_u) -> SimDay:  # type: ignore[no-untyped-def]
        u, rng = self.u, self.rng
        T, n = mid.shape
        lam = u.trade_rate[None, :] * volume_u[:, None] * (1 + 40 * np.abs(np.log(mid / open_mid)))
        n_trades = rng.poisson(lam)
        n_trades[halted] = 0
        # during a halt the last trade price holds; when it resumes the bar opens at the new level
        last = np.where(halted, np.nan, mid)
        carry = _ffill(last, fill=open_mid[0])
        o = np.where(halted, carry, open_mid)
        c = np.where(halted, carry, mid)
        ext = np.abs(rng.standard_normal((2, T, n))) * sigma[None] * 0.5
        hi = np.maximum(o, c) * (1 + np.where(halted, 0, ext[0]))
        lo = np.minimum(o, c) * (1 - np.where(halted, 0, ext[1]))
        size = np.exp(rng.normal(np.log(150), 0.8, (T, n)))
        volume = np.round(n_trades * size)
        vwap = np.clip((o + hi + lo + c) / 4, lo, hi)
        half = np.maximum(0.005, c * u.spread_bps[None, :] * spread_u[:, None] / 2e4)
        bid, ask = np.floor((c - half) * 100) / 100, np.ceil((c + half) * 100) / 100
        depth = 100 * np.round(np.exp(rng.normal(np.log(np.clip(2e4 / c, 1, 200)), 0.6, (2, T, n))))
        keep = (n_trades > 0) | halted
        tt, ii = np.nonzero(keep)
        bars = pa.table(
            {
                "symbol": pa.array(u.symbols[ii]),
                "ts": pa.array(stamps[tt], type=pa.int64()).cast(TS),
                "open": o[tt, ii].round(4),
                "high": hi[tt, ii].round(4),
                "low": lo[tt, ii].round(4),
                "close": c[tt, ii].round(4),
                "volume": volume[tt, ii],
                "vwap": vwap[tt, ii].round(4),
                "trades": n_trades[tt, ii].astype(np.int32),
                "bid": bid[tt, ii],
                "ask": ask[tt, ii],
                "bid_size": depth[0, tt, ii],
                "ask_size": depth[1, tt, ii],
                "halted": halted[tt, ii],
            },
            schema=BARS_1M,
        )
        # rounding to 4 decimals can put high a hair under max(open, close): restore the invariant
        bars = _fix_ohlc(bars)
        return SimDay(d, bars, _halt_table(u.symbols, stamps, halted), open_mid[tt, ii], sigma[tt, ii], half[tt, ii])


def _ffill(a: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """Forward-fill NaNs down axis 0, starting from ``fill``."""
    out = a.copy()
    prev = fill.copy()
    for t in range(out.shape[0]):
        row = out[t]
        nan = np.isnan(row)
        row[nan] = prev[nan]
        prev = row
    return out


def _fix_ohlc(bars: pa.Table) -> pa.Table:
    o, h, lo, c = (bars.column(k).to_numpy() for k in ("open", "high", "low", "close"))
    h2, l2 = np.maximum(h, np.maximum(o, c)), np.minimum(lo, np.minimum(o, c))
    bars = bars.set_column(bars.schema.get_field_index("high"), bars.schema.field("high"), pa.array(h2))
    return bars.set_column(bars.schema.get_field_index("low"), bars.schema.field("low"), pa.array(l2))


def _halt_table(symbols: np.ndarray, stamps: np.ndarray, halted: np.ndarray) -> pa.Table:
    """Halt intervals [first halted bar's start, last halted bar's end) per symbol."""
    rows: dict[str, list] = {"symbol": [], "start": [], "end": [], "reason": []}
    padded = np.vstack([np.zeros((1, halted.shape[1]), bool), halted, np.zeros((1, halted.shape[1]), bool)])
    edges = np.diff(padded.astype(np.int8), axis=0)
    for t0, i in zip(*np.nonzero(edges == 1), strict=True):
        t1 = t0 + np.argmax(edges[t0:, i] == -1) - 1
        rows["symbol"].append(str(symbols[i]))
        rows["start"].append(int(stamps[t0]) - 60_000_000_000)
        rows["end"].append(int(stamps[t1]))
        rows["reason"].append("LULD")
    return pa.table(
        {
            "symbol": pa.array(rows["symbol"], pa.string()),
            "start": pa.array(rows["start"], pa.int64()).cast(TS),
            "end": pa.array(rows["end"], pa.int64()).cast(TS),
            "reason": pa.array(rows["reason"], pa.string()),
        },
        schema=HALTS,
    )


def simulate(cfg: SimConfig) -> Iterator[SimDay]:
    """Convenience: the days of a fresh simulator."""
    return MarketSimulator(cfg).days()


__all__ = ["MarketSimulator", "SimConfig", "SimDay", "replace", "simulate"]

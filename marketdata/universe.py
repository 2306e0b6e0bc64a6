"""A simulated US equity universe: SPY, 11 sector ETFs and stocks with sectors, caps, prices, betas, liquidity."""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from marketdata.schemas import REFERENCE

SECTOR_ETFS = {
    "XLK": "Technology",
    "XLF": "Financials",
    "XLV": "Health Care",
    "XLY": "Consumer Discretionary",
    "XLP": "Consumer Staples",
    "XLE": "Energy",
    "XLI": "Industrials",
    "XLB": "Materials",
    "XLU": "Utilities",
    "XLRE": "Real Estate",
    "XLC": "Communication Services",
}
MARKET_ETF = "SPY"
N_ETFS = 1 + len(SECTOR_ETFS)
MINUTES_PER_YEAR = 252 * 390


@dataclass
class Universe:
    """Static description of every simulated symbol (arrays aligned with ``symbols``)."""

    symbols: np.ndarray  # str
    sector: np.ndarray  # int: 0..10 for stocks and sector ETFs, -1 for SPY
    is_etf: np.ndarray
    market_cap: np.ndarray
    price0: np.ndarray
    beta_mkt: np.ndarray
    beta_sec: np.ndarray
    idio_vol: np.ndarray  # 1-minute idiosyncratic volatility
    trade_rate: np.ndarray  # mean trades per minute at midday
    spread_bps: np.ndarray  # baseline quoted spread
    luld_band: np.ndarray  # LULD price band (fraction)

    @property
    def leader(self) -> np.ndarray:
        etfs = np.array(list(SECTOR_ETFS))
        out = np.where(self.sector >= 0, etfs[np.maximum(self.sector, 0)], MARKET_ETF)
        out[self.is_etf] = MARKET_ETF
        return out

    def reference(self) -> pa.Table:
        names = np.array(list(SECTOR_ETFS.values()))
        sector = np.where(self.sector >= 0, names[np.maximum(self.sector, 0)], "Market")
        return pa.table(
            {
                "symbol": self.symbols.tolist(),
                "sector": sector.tolist(),
                "market_cap": self.market_cap,
                "is_etf": self.is_etf,
                "leader": self.leader.tolist(),
            },
            schema=REFERENCE,
        )


def _tickers(rng: np.random.Generator, n: int, taken: set[str]) -> list[str]:
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    out: list[str] = []
    seen = set(taken)
    while len(out) < n:
        length = rng.choice([2, 3, 4], p=[0.05, 0.45, 0.5])
        t = "".join(rng.choice(letters, size=length))
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def make_universe(n_symbols: int, rng: np.random.Generator) -> Universe:
    """SPY, the 11 sector ETFs, then ``n_symbols - 12`` stocks."""
    if n_symbols < N_ETFS + 1:
        raise ValueError(f"--symbols must be at least {N_ETFS + 1} (SPY, 11 sector ETFs and one stock)")
    n_st = n_symbols - N_ETFS
    symbols = np.array([MARKET_ETF, *SECTOR_ETFS, *_tickers(rng, n_st, {MARKET_ETF, *SECTOR_ETFS})])
    sector = np.concatenate([[-1], np.arange(11), rng.integers(0, 11, n_st)])
    is_etf = np.zeros(n_symbols, dtype=bool)
    is_etf[:N_ETFS] = True
    log_cap = np.concatenate([np.full(N_ETFS, 26.0), rng.normal(22.0, 1.6, n_st)])
    cap = np.exp(np.clip(log_cap, 18.5, 28.5))
    price0 = np.concatenate([[450.0], rng.uniform(40, 200, 11), np.exp(rng.normal(np.log(40), 0.9, n_st))])
    price0 = np.clip(price0, 1.5, 2000.0).round(2)
    beta_mkt = np.concatenate([[1.0], np.ones(11), np.clip(rng.normal(1.0, 0.3, n_st), 0.2, 2.2)])
    beta_sec = np.concatenate([[0.0], np.ones(11), np.clip(rng.normal(0.7, 0.25, n_st), 0.0, 1.6)])
    annual = np.concatenate([np.zeros(N_ETFS), np.exp(rng.normal(np.log(0.35), 0.35, n_st))])
    annual += 0.12 * np.exp(-(log_cap - 18.5) / 4)  # small caps are noisier
    annual[:N_ETFS] = 0.0
    idio_vol = annual / np.sqrt(MINUTES_PER_YEAR)
    rel = log_cap - 22.0
    trade_rate = np.clip(6.0 * np.exp(0.9 * rel), 0.08, 400.0)
    trade_rate[:N_ETFS] = 250.0
    spread_bps = np.clip(2.0 + 18.0 * np.exp(-0.9 * rel) + 3.0 / price0 * 100, 0.5, 400.0)
    spread_bps[:N_ETFS] = 0.6
    luld = np.where((cap > 1e10) | is_etf, 0.05, 0.10)
    luld = np.where(price0 < 3.0, 0.20, luld)
    return Universe(symbols, sector, is_etf, cap, price0, beta_mkt, beta_sec, idio_vol, trade_rate, spread_bps, luld)


def intraday_shape(n_minutes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """U-shaped multipliers for volatility, volume and spread over the session (mean ~1)."""
    m = np.arange(n_minutes, dtype=float)
    end = n_minutes - 1 - m
    vol = 0.75 + 1.3 * np.exp(-m / 18) + 0.45 * np.exp(-end / 25)
    volume = 0.6 + 0.8 * np.exp(-m / 20) + 2.2 * np.exp(-end / 15)  # TAQ: the close busier than the open
    spread = 0.85 + 1.6 * np.exp(-m / 10) + 0.1 * np.exp(-end / 20)
    return vol / vol.mean(), volume / volume.mean(), spread / spread.mean()

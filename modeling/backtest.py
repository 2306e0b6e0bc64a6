"""A cost-aware backtest of minute signals: long the top-K, short the bottom-K, hold h minutes.

Each minute opens a cohort (equal weights, dollar-neutral) that is held for ``h`` minutes, so ``h`` cohorts are
live at once and each gets ``1/h`` of the book. The book trades its net change per name and minute (a name one
cohort leaves as the next enters it is not traded), paying half the quoted spread at that minute plus a fee on
what it trades; ``turnover`` is that traded weight a minute. A bar without a usable quote pays its name's last
known spread (:func:`modeling.labels.half_spreads`); weight traded with no spread known at all pays the fee only,
and ``unpriced_share`` says how much of the turnover that was. Halted symbols are never entered.

Each cohort's whole ``h``-minute return is booked at the minute it opens. When the top names persist, consecutive
cohorts share ``h - 1`` minutes of the same returns, so that series is autocorrelated and its plain Sharpe,
annualized as if its minutes were independent, overstates the book's by up to sqrt(h). The Sharpe (and the
deflated Sharpe) add the variance that overlap carries, the gross returns' autocovariances at lags 1..h-1
(:func:`overlap_variance`), which is what a book marked to market every minute would show (``overlap_factor`` in
the metrics: the gross variance's inflation, 1 for independent cohorts, up to h). Costs are booked at the minute
they are paid. The equity curve and drawdown stay on that path: returns summed, not compounded (a fixed book of unit
gross exposure), so ``total_return`` and ``max_drawdown`` are in units of that exposure and a drawdown can pass -1.
``edge_bps`` and ``cost_bps`` put the gross return and the costs per unit of weight traded, in basis points: the
book breaks even when the edge covers the cost.
Sharpe is annualized with sqrt(252 * 390) for minute returns.
"""

import math
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.stats import kurtosis, norm, skew

from marketdata.schemas import NS_PER_MIN

MINUTES_PER_YEAR = 252 * 390


@dataclass
class BacktestResult:
    minute_returns: pl.DataFrame  # ts, gross (of the cohort opened), opened (1/0), traded, cost, unpriced, ret (net)
    metrics: dict


def deflated_sharpe(
    sr: float, n_obs: int, n_trials: int, skewness: float, kurt: float, sr_var: float | None = None
) -> float:
    """Probability that the true Sharpe (per period) exceeds the best of ``n_trials`` null trials
    (Bailey & Lopez de Prado 2014). ``sr_var`` defaults to the null variance 1 / n_obs."""
    if n_obs < 3 or not np.isfinite(sr):
        return float("nan")
    v = sr_var if sr_var is not None else 1.0 / n_obs
    g = 0.5772156649
    n = max(n_trials, 1)
    sr0 = 0.0 if n == 1 else math.sqrt(v) * ((1 - g) * norm.ppf(1 - 1 / n) + g * norm.ppf(1 - 1 / (n * math.e)))
    denom = math.sqrt(max(1 - skewness * sr + (kurt - 1) / 4 * sr * sr, 1e-12))
    return float(norm.cdf((sr - sr0) * math.sqrt(n_obs - 1) / denom))


def tails(k: int) -> tuple[pl.Expr, pl.Expr]:
    """Each row's share of a place in its minute's (``ts``) top ``k`` and bottom ``k`` by ``p``: 1 inside, 0
    outside, and the names tied across a boundary share its remaining places equally, the expectation of breaking
    the tie at random. A model with few distinct outputs ties at the boundary most minutes (a walk-forward on the
    demo's market: 8 distinct values among 133 names a minute, a tie at the 10th place in 88 % of minutes); ranking
    ties by their order in the table would pick the same names every minute, by name."""
    p = pl.col("p")
    hi, lo = p.top_k(k).min().over("ts"), p.bottom_k(k).max().over("ts")  # the k-th value from each end
    return _share(p > hi, p == hi, k), _share(p < lo, p == lo, k)


def _share(beyond: pl.Expr, at: pl.Expr, k: int) -> pl.Expr:
    """1 beyond the k-th value, 0 short of it, and the places left (k minus the names beyond) shared by the names
    at it."""
    left = k - beyond.sum().over("ts")
    return pl.when(beyond).then(1.0).when(at).then(left / at.sum().over("ts")).otherwise(0.0)


def overlap_variance(g: np.ndarray, horizon: int) -> float:
    """The variance that overlapping cohorts add to a minute of the book: twice the sum of the gross cohort
    returns' autocovariances at lags 1..horizon-1, floored at 0 (a negative sample autocovariance never raises a
    Sharpe). Measured on the gross returns, where the overlap lives: the costs' slow intraday pattern is paid
    minute by minute in a marked-to-market book too, so it is not an overlap."""
    x = g - g.mean()
    n = len(x)
    if horizon < 2 or n < 3:
        return 0.0
    cov = [float(x[lag:] @ x[:-lag]) / (n - 1) for lag in range(1, min(horizon, n))]
    return max(0.0, 2.0 * sum(cov))


def _trades(book: pl.DataFrame, spreads: pl.DataFrame, horizon: int, fee: float) -> pl.DataFrame:
    """``(ts, traded, cost)`` a minute: the book's weight change per name, each cohort entering at its minute and
    leaving ``horizon`` minutes later, netted (a name one cohort leaves as the next enters it is not traded), each
    paying the name's half spread at that minute (``spreads``; the entering cohort's when the name has no row
    then) plus the fee; ``unpriced`` is the traded weight no spread was known for (it pays the fee only)."""
    leave = pl.col("ts") + horizon * NS_PER_MIN
    moves = pl.concat(
        [book.select("ts", "symbol", "w", "hs"), book.select(leave.alias("ts"), "symbol", -pl.col("w"), "hs")]
    )
    net = moves.group_by("ts", "symbol").agg(pl.col("w").sum().alias("dw"), pl.col("hs").mean().alias("hs_in"))
    keys = ["ts", "symbol"]  # the spreads of the book's trades only (a semi join hashes the small side)
    now = spreads.join(net.select(keys), on=keys, how="semi").unique(keys, keep="first").rename({"hs": "hs_now"})
    net = net.join(now, on=keys, how="left")
    hs = pl.coalesce("hs_now", "hs_in")
    paid = pl.col("dw").abs() * (hs.fill_null(0.0) + fee)
    unpriced = pl.col("dw").abs().filter(hs.is_null()).sum()  # no spread known: the fee only
    return net.group_by("ts").agg(
        pl.col("dw").abs().sum().alias("traded"), paid.sum().alias("cost"), unpriced.alias("unpriced")
    )


def backtest(
    ts: np.ndarray,
    symbol: np.ndarray,
    p: np.ndarray,
    fwd: np.ndarray,
    half_spread: np.ndarray,
    halted: np.ndarray | None = None,
    k: int = 10,
    horizon: int = 5,
    fee_bps: float = 0.5,
    n_trials: int = 1,
    threshold: float | None = None,
    max_half_spread: float | None = None,
) -> BacktestResult:
    """``fwd`` is each row's return from ts to ts + horizon; ``half_spread`` is the quoted half spread as a
    fraction of price at ts. By default each minute goes long the top ``k`` and short the bottom ``k`` by ``p``;
    with ``threshold`` it goes long every name with ``p >= threshold`` and short every name with
    ``p <= 1 - threshold`` instead (each minute's cohort has unit gross exposure either way; names tied across the
    top-k boundary share its places, :func:`tails`). With ``max_half_spread`` (a fraction of price) a name is a
    candidate only at minutes its half spread is known and at most that: a liquidity screen, applied before the
    ranking, as a desk would (its exit still pays whatever the spread is then)."""
    df = pl.DataFrame(
        {
            "ts": ts,
            "symbol": pl.Series(symbol, dtype=pl.String) if symbol.dtype == object else symbol,  # empty: not Object
            "p": p,
            "fwd": fwd,
            "hs": half_spread,  # NaN: no spread known (:func:`_trades` counts that weight as unpriced)
            "halted": halted if halted is not None else np.zeros(len(ts), bool),
        }
    )
    df = df.with_columns(pl.col("hs").fill_nan(None))
    spreads = df.select("ts", "symbol", "hs").drop_nulls("hs")  # a name leaving pays the spread of that minute
    df = df.filter(~pl.col("halted") & pl.col("fwd").is_finite())
    if max_half_spread is not None:
        df = df.filter(pl.col("hs") <= max_half_spread)  # an unknown spread (null) is no candidate either
    if threshold is None:
        df = df.filter(pl.len().over("ts") >= 2 * k)
        top, bottom = tails(k)
        side, names = top - bottom, pl.lit(2.0 * k)  # a minute of ties only nets to no position
    else:
        side = pl.when(pl.col("p") >= threshold).then(1.0).when(pl.col("p") <= 1 - threshold).then(-1.0).otherwise(0.0)
        names = pl.len().over("ts")
    book = df.with_columns(side.alias("side")).filter(pl.col("side") != 0)
    book = book.with_columns(w=pl.col("side") / (names * horizon))
    gross = book.group_by("ts").agg((pl.col("w") * pl.col("fwd")).sum().alias("gross"), pl.lit(1.0).alias("opened"))
    trades = _trades(book, spreads, horizon, fee_bps * 1e-4)
    minutes = (
        gross.join(trades, on="ts", how="full", coalesce=True)
        .with_columns(pl.exclude("ts").fill_null(0.0))  # the stamps stay integers
        .sort("ts")
        .with_columns((pl.col("gross") - pl.col("cost")).alias("ret"))
    )
    r = minutes["ret"].to_numpy()
    if len(r) < 3:
        nan = float("nan")
        keys = ("sharpe", "sharpe_gross", "gross_return", "max_drawdown", "turnover", "hit_rate", "dsr")
        none = {**dict.fromkeys(keys, nan), "overlap_factor": nan, "total_return": nan, "cost_share": nan,
                "unpriced_share": nan, "edge_bps": nan, "cost_bps": nan}  # fmt: skip
        return BacktestResult(minutes, {**none, "n_minutes": len(r), "k": k, "fee_bps": fee_bps})
    g = minutes["gross"].to_numpy()
    extra = overlap_variance(g, horizon)
    sd = math.sqrt(r.var(ddof=1) + extra)
    sr = r.mean() / sd if sd > 0 else 0.0
    equity = np.cumsum(r)
    dd = equity - np.maximum.accumulate(np.r_[0.0, equity])[1:]
    sd_gross = math.sqrt(g.var(ddof=1) + extra)
    traded = float(minutes["traded"].sum())
    sr_gross = g.mean() / sd_gross if sd_gross > 0 else 0.0
    metrics = {
        "sharpe": float(sr * math.sqrt(MINUTES_PER_YEAR)),
        "sharpe_gross": float(sr_gross * math.sqrt(MINUTES_PER_YEAR)),
        "gross_return": float(g.sum()),
        "max_drawdown": float(dd.min()),
        "turnover": float(minutes["traded"].sum() / len(r)),
        # the minutes that opened a cohort: its booked return net of the costs paid that minute
        "hit_rate": float(np.mean(r[minutes["opened"].to_numpy() > 0] > 0)),
        "dsr": deflated_sharpe(sr, len(r), n_trials, float(skew(r)), float(kurtosis(r, fisher=False))),
        "n_minutes": int(len(r)),
        "overlap_factor": float(sd_gross**2 / g.var(ddof=1)) if g.var(ddof=1) > 0 else 1.0,
        "total_return": float(equity[-1]),
        "cost_share": float(minutes["cost"].sum() / max(np.abs(g).sum(), 1e-12)),
        # traded weight with no spread known (no usable quote yet): its cost is the fee only, a flattering figure
        "unpriced_share": _ratio(minutes["unpriced"].to_numpy().sum(), traded),
        # per unit of weight traded: what the signal earned before costs, and what trading it cost (the book breaks
        # even where the two meet; a net Sharpe far below zero with a positive edge says how far the costs are)
        "edge_bps": _ratio(g.sum(), traded) * 1e4,
        "cost_bps": _ratio(float(minutes["cost"].sum()), traded) * 1e4,
        "k": k,
        "fee_bps": fee_bps,
    }
    return BacktestResult(minutes, metrics)


def _ratio(part: float, whole: float) -> float:
    return float(part / whole) if whole > 0 else 0.0  # nothing traded: nothing earned, nothing paid


def plot_equity(result: BacktestResult, path: str, title: str = "walk-forward backtest") -> str:
    """Equity curve and drawdown as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = result.minute_returns
    eq = np.cumsum(df["ret"].to_numpy())
    gross = np.cumsum(df["gross"].to_numpy())
    dd = eq - np.maximum.accumulate(np.r_[0.0, eq])[1:]
    fig, (a, b) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    x = np.arange(len(eq))
    a.plot(x, gross, label="gross", color="#999999", lw=1)
    a.plot(x, eq, label="net of costs", color="#1f77b4", lw=1.5)
    m = result.metrics
    a.set_title(
        f"{title} — Sharpe {m['sharpe']:.2f} (gross {m['sharpe_gross']:.2f}), max DD {m['max_drawdown']:.2%}, "
        f"DSR {m['dsr']:.2f}\nturnover {m['turnover']:.3f} a minute, overlap factor {m['overlap_factor']:.2f}, "
        f"a unit traded: edge {m['edge_bps']:.2f} bp vs cost {m['cost_bps']:.2f} bp",
        fontsize=10,
    )
    a.set_ylabel("cumulative return")
    a.legend(loc="upper left")
    b.fill_between(x, dd, 0, color="#d62728", alpha=0.4)
    b.set_ylabel("drawdown")
    b.set_xlabel("trading minute (out of sample)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

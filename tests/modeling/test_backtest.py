"""The backtest's Sharpe against a mark-to-market book computed here, minute by minute, from 1-minute returns.

The backtest books each cohort's whole ``h``-minute return at the minute it opens, so consecutive cohorts that
hold the same names overlap by ``h - 1`` minutes. Annualizing that series as if its minutes were independent
overstates the Sharpe by up to sqrt(h) (a signal whose top names persist); the book a desk would run earns each
cohort's names' 1-minute returns while they are held.
"""

import numpy as np
import polars as pl
import pytest

from modeling.backtest import MINUTES_PER_YEAR, backtest

S, K, H, T = 30, 5, 5, 20_000


def _market(p: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, ...]:
    """Rows (symbol-minute) for the backtest: ``fwd`` is the sum of the next ``H`` 1-minute returns ``r``
    (the last ``H - 1`` minutes have none)."""
    n = p.shape[1]  # minutes
    c = np.cumsum(np.c_[np.zeros((S, 1)), r], axis=1)
    fwd = np.full((S, n), np.nan)
    fwd[:, : n - H + 1] = c[:, H:] - c[:, : n - H + 1]
    ts = np.tile(np.arange(n, dtype=np.int64) * 60_000_000_000, S)
    sym = np.repeat(np.array([f"S{i:02d}" for i in range(S)], dtype=object), n)
    return ts, sym, p.ravel(), fwd.ravel()


def _book_sharpe(p: np.ndarray, r: np.ndarray, hs: np.ndarray | None = None) -> float:
    """Annualized Sharpe of the book that holds each minute's cohort (top-K long, bottom-K short, 1/H of the book
    each) for H minutes, marked to market every minute; with ``hs`` (a half spread per minute, every name) the book
    pays it on the weight it trades each minute."""
    order = np.argsort(-p, axis=0, kind="stable")
    w = np.zeros((S, T))
    cols = np.arange(T)
    w[order[:K], cols] = 1.0 / (2 * K * H)
    w[order[-K:], cols] = -1.0 / (2 * K * H)
    w[:, T - H + 1 :] = 0.0  # no forward return: never opened
    live = np.zeros((S, T))  # weight held over minute u -> u + 1
    for lag in range(H):
        live[:, lag:] += w[:, : T - lag]
    pnl = (live * r).sum(axis=0)
    if hs is not None:  # the book trades its change of weight per name, at that minute's half spread
        pnl -= np.abs(np.diff(np.c_[np.zeros((S, 1)), live], axis=1)).sum(axis=0) * hs
    pnl = pnl[: T - 1]
    return float(pnl.mean() / pnl.std(ddof=1) * np.sqrt(MINUTES_PER_YEAR))


def _sharpe(p: np.ndarray, r: np.ndarray, hs: np.ndarray | None = None, key: str = "sharpe_gross") -> float:
    ts, sym, pp, fwd = _market(p, r)
    spread = np.zeros(len(ts)) if hs is None else np.tile(hs, S)
    return backtest(ts, sym, pp, fwd, spread, k=K, horizon=H, fee_bps=0.0).metrics[key]


def test_persistent_names_are_not_counted_h_times():
    """The same names every minute: consecutive cohorts share H - 1 minutes of return."""
    rng = np.random.default_rng(7)
    drift = np.zeros(S)
    drift[:K], drift[-K:] = 2e-5, -2e-5
    r = drift[:, None] + 1e-3 * rng.standard_normal((S, T))
    p = np.broadcast_to(drift[:, None], (S, T)) + 1e-9 * rng.standard_normal((S, T))
    book, ours = _book_sharpe(p, r), _sharpe(p, r)
    assert book > 5, book  # a real edge, so the ratio means something
    assert ours == pytest.approx(book, rel=0.1), (ours, book)


def test_fresh_names_each_minute_are_not_deflated():
    """New names every minute, predictable one minute ahead only: the cohorts are independent, no correction."""
    rng = np.random.default_rng(8)
    p = rng.uniform(size=(S, T))
    r = 2e-4 * (p - 0.5) + 1e-3 * rng.standard_normal((S, T))
    book, ours = _book_sharpe(p, r), _sharpe(p, r)
    assert book > 5, book
    assert ours == pytest.approx(book, rel=0.1), (ours, book)


def test_a_slow_intraday_cost_pattern_is_not_overlap():
    """Fresh names each minute, spreads wide at the open and close: the cost's pattern is paid minute by minute
    in the marked-to-market book too, so it must not be inflated as if it were overlapping returns."""
    rng = np.random.default_rng(9)
    p = rng.uniform(size=(S, T))
    r = 4e-4 * (p - 0.5) + 1e-3 * rng.standard_normal((S, T))
    minute = np.arange(T) % 390
    hs = 1e-4 + 4e-4 * ((minute - 195) / 195) ** 2
    book, ours = _book_sharpe(p, r, hs), _sharpe(p, r, hs, "sharpe")
    assert book < -5, book  # the costs dominate: a losing book, and not a noisy one
    assert ours == pytest.approx(book, rel=0.1), (ours, book)


def _turnover(p: np.ndarray, r: np.ndarray) -> float:
    ts, sym, pp, fwd = _market(p, r)
    return backtest(ts, sym, pp, fwd, np.zeros(len(ts)), k=K, horizon=H, fee_bps=0.0).metrics["turnover"]


def test_turnover_nets_the_cohorts_of_one_book():
    """Turnover is what the whole book trades a minute: a cohort leaving and the next entering the same names
    cancel. The same names every minute trade almost nothing; fresh names trade 2/H (in and out) every minute."""
    rng = np.random.default_rng(10)
    r = 1e-3 * rng.standard_normal((S, T))
    still = np.broadcast_to(np.arange(S, dtype=float)[:, None], (S, T))
    assert _turnover(still, r) < 0.01
    fresh = _turnover(rng.uniform(size=(S, T)), r)
    # 2/H, less the chance that a name leaving is also one entering (K of S on each side)
    assert 0.8 * 2 / H < fresh <= 2 / H, fresh


def test_persistent_names_pay_only_what_the_book_trades():
    """The same names every minute with costs: consecutive cohorts hand the names over, and the book pays the
    spread on what it trades (almost nothing), not on every cohort's entry and exit."""
    rng = np.random.default_rng(11)
    drift = np.zeros(S)
    drift[:K], drift[-K:] = 2e-5, -2e-5
    r = drift[:, None] + 1e-3 * rng.standard_normal((S, T))
    p = np.broadcast_to(drift[:, None], (S, T)) + 1e-9 * rng.standard_normal((S, T))
    hs = np.full(T, 2e-4)  # 2/H of it a minute, paid on every cohort, would cost 4x the drift
    book, ours = _book_sharpe(p, r, hs), _sharpe(p, r, hs, "sharpe")
    assert book > 5, book
    assert ours == pytest.approx(book, rel=0.1), (ours, book)


def test_hit_rate_counts_the_minutes_that_opened_a_cohort():
    """Minutes that only close positions (the last H of the data) book no return of their own: they are not misses."""
    rng = np.random.default_rng(12)
    p = rng.uniform(size=(S, T))
    r = 4e-4 * (p - 0.5) + 1e-3 * rng.standard_normal((S, T))
    ts, sym, pp, fwd = _market(p, r)
    m = backtest(ts, sym, pp, fwd, np.zeros(len(ts)), k=K, horizon=H, fee_bps=0.0).metrics
    order = np.argsort(-p, axis=0, kind="stable")
    f = fwd.reshape(S, T)
    cols = np.arange(T - H + 1)
    gross = (f[order[:K, cols], cols].sum(axis=0) - f[order[-K:, cols], cols].sum(axis=0)) / (2 * K * H)
    assert m["hit_rate"] == pytest.approx(np.mean(gross > 0), abs=1e-12)
    assert m["n_minutes"] == T + 1  # cohorts open at 0..T-H and the last one leaves at T: the book lives 0..T


def test_too_few_minutes_give_every_metric_as_nan_and_still_plot(tmp_path):
    from modeling.backtest import plot_equity

    rng = np.random.default_rng(13)
    ts, sym, pp, fwd = _market(rng.uniform(size=(S, T)), 1e-3 * rng.standard_normal((S, T)))
    full = backtest(ts, sym, pp, fwd, np.zeros(len(ts)), k=K, horizon=H).metrics
    for rows, minutes in ((ts < 60_000_000_000, 2), (ts < 0, 0)):  # one cohort (in and out), and no row at all
        res = backtest(ts[rows], sym[rows], pp[rows], fwd[rows], np.zeros(rows.sum()), k=K, horizon=H)
        assert set(res.metrics) == set(full) and res.metrics["n_minutes"] == minutes, res.metrics
        assert np.isnan(res.metrics["sharpe"])
        assert plot_equity(res, str(tmp_path / f"{minutes}.png")).endswith(f"{minutes}.png")


def test_ties_share_the_places_so_no_figure_depends_on_the_rows_order():
    """A model with few distinct outputs ties at the K-th place most minutes. Ranked by table order, the book picked
    the same names every minute, by name: shuffling the rows changed every figure. Tied names now share the places
    left at a boundary (the expectation of breaking the tie at random)."""
    rng = np.random.default_rng(11)
    r = 1e-3 * rng.standard_normal((S, 2_000))
    p = np.round(rng.uniform(0.4, 0.6, (S, 2_000)), 1)  # 3 distinct values a minute: ties across both boundaries
    ts, sym, pp, fwd = _market(p, r)
    hs = np.full(len(ts), 2e-4)
    base = backtest(ts, sym, pp, fwd, hs, k=K, horizon=H).metrics
    perm = rng.permutation(len(ts))
    moved = backtest(ts[perm], sym[perm], pp[perm], fwd[perm], hs[perm], k=K, horizon=H).metrics
    assert moved == pytest.approx(base, rel=1e-9)
    from modeling.metrics import precision_at_k

    y = (fwd > 0).astype(float)
    ok = np.isfinite(fwd)
    assert precision_at_k(ts[ok], pp[ok], y[ok], K) == pytest.approx(
        precision_at_k(ts[perm][ok[perm]], pp[perm][ok[perm]], y[perm][ok[perm]], K), rel=1e-12
    )


def test_tied_names_share_the_boundarys_places_and_a_minute_of_ties_holds_nothing():
    """20 names, K = 10: 12 tied at the top share its 10 places, the 8 below fill the bottom's first 8 and the 12
    share its last 2 (net 8/12 long each); a minute where every name ties nets to no position."""
    t = np.repeat(np.array([0, 60_000_000_000, 120_000_000_000]), 20)
    sym = np.tile(np.array([f"S{i:02d}" for i in range(20)], dtype=object), 3)
    p = np.r_[np.full(12, 0.6), np.full(8, 0.4), np.full(20, 0.5), np.full(12, 0.6), np.full(8, 0.4)]
    fwd = np.r_[np.full(12, 0.01), np.full(8, -0.01), np.zeros(20), np.full(12, 0.01), np.full(8, -0.01)]
    res = backtest(t, sym, p, fwd, np.zeros(60), k=10, horizon=1, fee_bps=0.0)
    g = res.minute_returns.filter(pl.col("opened") > 0).sort("ts")
    assert g["ts"].to_list() == [0, 120_000_000_000]  # the tied minute opened nothing
    # long 12 x (8/12) / 20 of +1 %, short 8 / 20 of -1 %: 0.8 % a cohort
    assert g["gross"].to_list() == pytest.approx([0.008, 0.008], rel=1e-12)


def test_a_name_without_a_quote_is_not_traded_for_free():
    """Fresh names every minute at a 3 bp half spread, 30 % of rows without a quote (so without a mid and a
    forward return: never entered there). A name leaving at such a row pays the spread it entered at, so the cost
    equals that of the same book with the spread known at every row (it was zero there before); weight traded
    with no spread known at all pays the fee only, and ``unpriced_share`` says how much."""
    rng = np.random.default_rng(12)
    n = 400
    p, r = rng.uniform(size=(S, n)), 1e-3 * rng.standard_normal((S, n))
    ts, sym, pp, fwd = _market(p, r)
    gap = rng.uniform(size=len(ts)) < 0.3
    fwd = np.where(gap, np.nan, fwd)
    full = np.full(len(ts), 3e-4)
    a = backtest(ts, sym, pp, fwd, full, k=K, horizon=H, fee_bps=0.0).metrics
    b = backtest(ts, sym, pp, fwd, np.where(gap, np.nan, full), k=K, horizon=H, fee_bps=0.0).metrics
    none = backtest(ts, sym, pp, fwd, np.full(len(ts), np.nan), k=K, horizon=H, fee_bps=1.0).metrics
    assert a["cost_share"] > 0 and a["unpriced_share"] == 0.0
    assert b["cost_share"] == pytest.approx(a["cost_share"], rel=1e-9) and b["unpriced_share"] == 0.0
    assert none["unpriced_share"] == 1.0 and none["total_return"] == pytest.approx(
        none["gross_return"] - none["turnover"] * none["n_minutes"] * 1e-4, rel=1e-9
    )


def test_edge_and_cost_per_unit_traded():
    """``edge_bps`` and ``cost_bps`` are the gross return and the costs per unit of weight traded: at a flat 2 bp
    half spread and a 1 bp fee every unit traded costs exactly 3 bp, and the net return is the edge minus the cost
    times what was traded (fails if either is taken per minute, per cohort or one-sided)."""
    rng = np.random.default_rng(21)
    n = 600
    drift = np.zeros(S)
    drift[:K] = 1e-4
    p, r = rng.uniform(size=(S, n)), 1e-3 * rng.standard_normal((S, n)) + drift[:, None]
    p[:K] += 1.0  # the drifting names are always the top: a real edge
    ts, sym, pp, fwd = _market(p, r)
    m = backtest(ts, sym, pp, fwd, np.full(len(ts), 2e-4), k=K, horizon=H, fee_bps=1.0).metrics
    traded = m["turnover"] * m["n_minutes"]
    assert m["cost_bps"] == pytest.approx(3.0, rel=1e-9)
    assert m["edge_bps"] * traded * 1e-4 == pytest.approx(m["gross_return"], rel=1e-9)
    assert m["total_return"] == pytest.approx((m["edge_bps"] - m["cost_bps"]) * traded * 1e-4, rel=1e-9)
    assert m["edge_bps"] > 0


def test_the_liquidity_screen_enters_only_names_quoting_a_narrow_spread():
    """Half the names quote 100 bp a side and the model likes them best; with a 10 bp screen none is entered, so
    every unit traded costs exactly the narrow names' 2 bp plus the 1 bp fee; a name with no known spread is no
    candidate either (fails if the screen is ignored, applied after the ranking, or lets unknown spreads through)."""
    rng = np.random.default_rng(22)
    n = 400
    p, r = rng.uniform(size=(S, n)), 1e-3 * rng.standard_normal((S, n))
    wide = np.arange(S) < S // 2
    p[wide] += 1.0  # the wide names rank first every minute
    ts, sym, pp, fwd = _market(p, r)
    hs = np.where(np.repeat(wide, n), 1e-2, 2e-4)
    hs[rng.uniform(size=len(hs)) < 0.1] = np.nan  # some minutes without a quote
    free = backtest(ts, sym, pp, fwd, hs, k=K, horizon=H, fee_bps=1.0).metrics
    held = backtest(ts, sym, pp, fwd, hs, k=K, horizon=H, fee_bps=1.0, max_half_spread=1e-3).metrics
    assert free["cost_bps"] > 40  # the top half of the book is wide names
    assert held["cost_bps"] == pytest.approx(3.0, rel=1e-9) and held["unpriced_share"] == 0.0
    assert held["turnover"] > 0.8 * free["turnover"]  # both sides still filled: the screen came before the ranking

"""Drift core: evidently PSI vs an independent PSI, adversarial validation (and why its split is by session),
the alert sink against a real local webhook, and one whole report."""

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold

from monitoring.adversarial import PARAMS, adversarial_validation
from monitoring.alerts import Alert, AlertDeliveryError, AlertSink
from monitoring.drift import psi, psi_drift
from monitoring.pipeline import drift_report
from tests.webhook import Webhook

M, DAY = 60_000_000_000, 86_400_000_000_000
T0 = int(dt.datetime(2026, 3, 2, 14, 30, tzinfo=dt.UTC).timestamp() * 1e9)


def _week(rng, first_day: int, days: int = 5, per_min: int = 20, shift: float = 0.0, day_sd: float = 0.0, sd=1.0):
    """Rows of two features over ``days`` sessions; each has a per-day level (``day_sd``) plus noise."""
    ts, a, b = [], [], []
    for d in range(first_day, first_day + days):
        level, level_b = rng.normal(0, day_sd, 2)
        t = T0 + d * DAY + np.repeat(np.arange(390) * M, per_min)
        ts.append(t)
        a.append(level + shift + rng.normal(0, sd, size=len(t)))
        b.append(level_b + rng.normal(0, sd, size=len(t)))
    return np.column_stack([np.concatenate(a), np.concatenate(b)]), np.concatenate(ts)


def test_evidently_psi_agrees_with_an_independent_psi():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"a": rng.normal(size=20000), "b": rng.normal(size=20000)})
    cur = pd.DataFrame({"a": rng.normal(0.6, 1.0, size=20000), "b": rng.normal(size=20000)})
    r = psi_drift(ref, cur, ["a", "b"])
    mine_a, mine_b = psi(ref.a.to_numpy(), cur.a.to_numpy()), psi(ref.b.to_numpy(), cur.b.to_numpy())
    assert r.drifted == ["a"]
    assert mine_a > 0.2 and r.psi["a"] == pytest.approx(mine_a, rel=0.35)
    assert r.psi["b"] < 0.02 and mine_b < 0.02


def test_constant_columns_are_reported_not_crashed():
    ref = pd.DataFrame({"a": np.ones(100), "b": np.arange(100.0)})
    r = psi_drift(ref, ref.copy(), ["a", "b"])
    assert r.skipped == ["a"] and set(r.psi) == {"b"}


def test_adversarial_auc_near_half_on_the_same_market_and_high_on_a_shift():
    rng = np.random.default_rng(1)
    (Xa, ta), (Xb, tb) = _week(rng, 0), _week(rng, 7)
    same = adversarial_validation(Xa, ta, Xb, tb, ["a", "b"])
    assert 0.45 < same.auc < 0.55
    Xc, tc = _week(rng, 7, shift=0.5)
    moved = adversarial_validation(Xa, ta, Xc, tc, ["a", "b"])
    assert moved.auc > 0.6 and moved.top[0][0] == "a"


def test_session_split_does_not_cry_wolf_where_a_row_split_does():
    """Each day has its own levels (like a day's volatility and spreads) drawn from the same law in both windows.
    A random row split learns the days and 'detects' drift every time; the session split asks whether the
    difference carries over to unseen days, and on this null it sits near 0.5 (a given pair of windows can still
    draw different days by chance: the median over seeds is what is asserted)."""
    import lightgbm as lgb

    leaky, honest = [], []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        (Xa, ta), (Xb, tb) = (_week(rng, k, days=20, per_min=3, day_sd=1.0, sd=0.05) for k in (0, 28))
        X, y = np.vstack([Xa, Xb]), np.r_[np.zeros(len(Xa)), np.ones(len(Xb))]
        oof = np.zeros(len(y))
        for tr, te in KFold(4, shuffle=True, random_state=0).split(X):
            oof[te] = lgb.train(PARAMS, lgb.Dataset(X[tr], y[tr]), 50).predict(X[te])
        leaky.append(roc_auc_score(y, oof))
        honest.append(adversarial_validation(Xa, ta, Xb, tb, ["a", "b"]).auc)
    assert min(leaky) > 0.9  # the leak the control exhibits
    assert np.median(honest) < 0.55 and sum(a > 0.6 for a in honest) <= 1


def test_alert_sink_posts_slack_json_and_fails_loudly():
    hook = Webhook()
    try:
        d = AlertSink(hook.url, log=lambda m: None).send(Alert("k1", "PSI drift", "atr_14 0.9", {"psi": {"a": 1}}))
        assert d.delivered == ["log", "webhook"]
        assert hook.received == [{"text": "*PSI drift*\natr_14 0.9", "tickwise": {"key": "k1", "psi": {"a": 1}}}]
    finally:
        hook.close()
    bad = Webhook(status=500)
    try:
        with pytest.raises(AlertDeliveryError, match="500"):
            AlertSink(bad.url, log=lambda m: None).send(Alert("k2", "t", "x"))
    finally:
        bad.close()
    with pytest.raises(AlertDeliveryError, match="failed"):
        AlertSink("http://127.0.0.1:9/none", timeout_s=1, log=lambda m: None).send(Alert("k3", "t", "x"))


def _features(X: np.ndarray, ts: np.ndarray) -> pa.Table:
    return pa.table(
        {
            "symbol": pa.array(["S"] * len(ts)),
            "ts": pa.array(ts, pa.timestamp("ns", "UTC")),
            "atr_14": X[:, 0],
            "rv_ewm_5": X[:, 1],
        }
    )


def test_whole_report_writes_html_plots_and_reads_served_signals(tmp_path):
    rng = np.random.default_rng(3)
    (Xa, ta), (Xb, tb) = _week(rng, 0, per_min=5), _week(rng, 7, per_min=5, shift=1.0)
    n = 390 * 3
    sig = pa.table(
        {
            "symbol": pa.array(["S"] * n),
            "ts": pa.array(T0 + np.repeat(np.arange(390) * M, 3), pa.timestamp("ns", "UTC")),
            "p_up": pa.array(rng.uniform(0.3, 0.7, n), pa.float32()),
            "model_version": pa.array(["1"] * n),
            "source": pa.array(["model"] * (n - 3) + ["fallback"] * 3),
        }
    )
    s = drift_report(
        str(tmp_path / "r"),
        ["atr_14", "rv_ewm_5"],
        _features(Xa, ta),
        _features(Xa, ta),
        _features(Xb, tb),
        sig,
        None,
        {"p50_ms": 3.0, "p99_ms": 9.0},
    )
    assert s["psi_worst"] == "atr_14" and s["drifted"] == ["atr_14"]
    assert s["going_missing"] == {} and s["missing_rise"] == 0.1
    assert s["adversarial_auc"] > 0.6 and s["adversarial_top"][0][0] == "atr_14"
    assert s["predictions"]["fallback"] == 3 and s["predictions"]["cycles"] == 390
    page = Path(s["html"]).read_text()
    assert "features going missing" in page
    for f in ("psi.png", "adversarial.png", "signals.png", "evidently.html"):
        assert f in page and (tmp_path / "r" / f).exists()


def test_a_feature_going_missing_is_drift_though_its_psi_is_not():
    """PSI bins the values present: spreads missing for most of the window (vendor bars without quotes, say) leave
    the rest distributed as before. The missing share shows it; a share that falls (features warming up in the
    reference's first sessions) is not drift."""
    rng = np.random.default_rng(3)
    n = 20_000
    ref = pd.DataFrame({"spread_bps": rng.gamma(2, 2, n), "obi": rng.normal(size=n), "ffd_40": rng.normal(size=n)})
    ref.loc[: n // 3, "ffd_40"] = np.nan  # warming up in the reference's first sessions
    cur = pd.DataFrame({"spread_bps": rng.gamma(2, 2, n), "obi": np.full(n, np.nan), "ffd_40": rng.normal(size=n)})
    cur.loc[: int(n * 0.6), "spread_bps"] = np.nan
    r = psi_drift(ref, cur, ["spread_bps", "obi", "ffd_40"])
    assert r.psi["spread_bps"] < 0.05 and r.drifted == [] and r.skipped == ["obi"]
    assert list(r.going_missing) == ["obi", "spread_bps"]
    assert r.going_missing["obi"] == (0.0, 1.0) and r.going_missing["spread_bps"][1] == pytest.approx(0.6, abs=1e-3)
    assert r.missing["ffd_40"][0] > 0.3 and "ffd_40" not in r.going_missing
    quiet = psi_drift(ref, ref.assign(spread_bps=ref.spread_bps.where(rng.random(n) > 0.05)), ["spread_bps"])
    assert quiet.going_missing == {}  # 5 % more missing: under the default rise of 10 points


def test_bars_without_quotes_are_drift_though_every_feature_looks_the_same(tmp_path):
    """A quote feed lost leaves the spread features stale, not missing: the bars' quotes are judged beside them."""
    from monitoring.drift import unquoted

    rng = np.random.default_rng(4)
    (Xa, ta), (Xb, tb) = _week(rng, 0, per_min=2), _week(rng, 7, per_min=2)
    n = 1_000
    quoted = pa.table({"bid": np.full(n, 9.9), "ask": np.full(n, 10.1)})
    lost = pa.table({"bid": pa.array([9.9] * 300 + [None] * 700, pa.float64()), "ask": np.full(n, 10.1)})
    (m0, n0), (m1, n1) = unquoted(quoted), unquoted(lost)
    s = drift_report(
        str(tmp_path / "r"),
        ["atr_14", "rv_ewm_5"],
        _features(Xa, ta),
        None,
        _features(Xb, tb),
        inputs_missing={"two-sided quote": (m0 / n0, m1 / n1)},
    )
    assert s["drifted"] == [] and s["going_missing"] == {"two-sided quote": [0.0, 0.7]}
    assert "two-sided quote 0% → 70%" in Path(s["html"]).read_text()

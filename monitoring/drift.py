"""PSI drift between a reference (the model's training window) and a recent window, computed by evidently.

Evidently computes the PSI per column (its ``ValueDrift(method="psi")``) and renders the HTML report people open;
tickwise reads the values from the snapshot programmatically, never by scraping the HTML.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> ref = pd.DataFrame({"a": rng.normal(size=4000), "b": rng.normal(size=4000)})
>>> cur = pd.DataFrame({"a": rng.normal(1.0, 1, size=4000), "b": rng.normal(size=4000)})
>>> r = psi_drift(ref, cur, ["a", "b"])
>>> r.drifted, r.psi["a"] > 0.2 > r.psi["b"]
(['a'], True)
"""

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from marketdata.quotes import usable_quote

PSI_THRESHOLD = 0.2
# A feature whose share of missing values rises by this much (absolute) has drifted, whatever its PSI: PSI bins
# only the values present, so a day computed from a cold engine (its state lost: FFD missing for 282 minutes), vendor
# bars without quotes or an input gone null upstream would not show in it.
MISSING_RISE = 0.10
# Columns that describe *when* or *who* a row is, not the market: they differ between any two windows by design.
NOT_DRIFT = ("symbol_id", "sector_id", "day_of_week", "minutes_since_open", "tod_sin", "tod_cos", "halted")


@dataclass
class PsiResult:
    """PSI per column (descending), the columns over the threshold, and the evidently HTML when written."""

    psi: dict[str, float]
    threshold: float
    html: str | None = None
    rows: tuple[int, int] = (0, 0)
    skipped: list[str] = field(default_factory=list)
    missing: dict[str, tuple[float, float]] = field(default_factory=dict)  # (reference, current) missing shares
    missing_rise: float = MISSING_RISE

    @property
    def drifted(self) -> list[str]:
        return [k for k, v in self.psi.items() if v > self.threshold]

    @property
    def going_missing(self) -> dict[str, tuple[float, float]]:
        """The columns whose missing share rose by more than ``missing_rise``, the largest rise first. A fall is
        not drift: windows that include the first sessions of the data miss values while the features warm up."""
        up = {k: v for k, v in self.missing.items() if v[1] - v[0] > self.missing_rise}
        return dict(sorted(up.items(), key=lambda kv: kv[1][0] - kv[1][1]))

    @property
    def worst(self) -> tuple[str, float] | None:
        return next(iter(self.psi.items()), None)


def drift_columns(names: list[str]) -> list[str]:
    """The feature columns worth watching for drift (identity and clock columns excluded)."""
    return [n for n in names if n not in NOT_DRIFT]


def psi_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str],
    threshold: float = PSI_THRESHOLD,
    html_path: str | None = None,
    missing_rise: float = MISSING_RISE,
) -> PsiResult:
    """PSI of every column of ``columns`` (current vs reference) with evidently; optionally save its HTML report.
    Beside it, each column's share of missing values in both windows (:attr:`PsiResult.going_missing`).

    A column that is constant or all-missing on either side cannot be binned and is listed in ``skipped``; its
    missing shares are still compared.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    usable: list[str] = []
    skipped: list[str] = []
    for c in columns:
        r, k = reference[c].dropna(), current[c].dropna()
        (usable if len(r) and len(k) and r.nunique() > 1 else skipped).append(c)
    if not usable:
        raise ValueError(f"no column can be compared: {skipped} are constant or empty in one window")
    dd = DataDefinition(numerical_columns=usable)
    report = Report([ValueDrift(column=c, method="psi", threshold=threshold) for c in usable])
    snap = report.run(
        Dataset.from_pandas(current[usable].astype("float64"), data_definition=dd),
        Dataset.from_pandas(reference[usable].astype("float64"), data_definition=dd),
    )
    values: dict[str, float] = {}
    for m in snap.dict()["metrics"]:
        cfg = m["config"]
        if cfg.get("type", "").endswith("ValueDrift") and cfg.get("method") == "psi":
            v = float(m["value"])
            values[cfg["column"]] = v if math.isfinite(v) else float("inf")
    missing = set(usable) - set(values)
    if missing:
        raise RuntimeError(f"evidently returned no PSI for {sorted(missing)}")
    if html_path:
        Path(html_path).parent.mkdir(parents=True, exist_ok=True)
        snap.save_html(html_path)
    ordered = dict(sorted(values.items(), key=lambda kv: -kv[1]))
    gone = missing_shares(reference, current, columns)
    return PsiResult(ordered, threshold, html_path, (len(reference), len(current)), skipped, gone, missing_rise)


def missing_shares(
    reference: pd.DataFrame, current: pd.DataFrame, columns: list[str]
) -> dict[str, tuple[float, float]]:
    """Each column's share of missing values (null or NaN) in the reference and in the current window.

    >>> ref = pd.DataFrame({"spread_bps": [1.0, 2.0, 3.0, 4.0]})
    >>> missing_shares(ref, pd.DataFrame({"spread_bps": [1.0, None, None, float("nan")]}), ["spread_bps"])
    {'spread_bps': (0.0, 0.75)}
    """
    return {c: (_missing(reference, c), _missing(current, c)) for c in columns}


def unquoted(bars: pa.Table) -> tuple[int, int]:
    """``(bars without a usable two-sided quote, bars)``: missing, one-sided or crossed quotes, what the spread
    features skip. A quote feed lost leaves those features stale, not missing, so only the bars show it.

    >>> unquoted(pa.table({"bid": [9.9, None, 10.2, 0.0], "ask": [10.1, 10.1, 10.1, 10.0]}))
    (3, 4)
    """
    return bars.num_rows - int(usable_quote(bars).sum()), bars.num_rows


def _missing(df: pd.DataFrame, column: str) -> float:
    return float(df[column].isna().mean()) if len(df) else 0.0


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """A plain quantile-binned PSI, used for the served ``p_up`` and as an independent check on evidently.

    >>> rng = np.random.default_rng(1)
    >>> round(psi(rng.normal(size=20000), rng.normal(size=20000)), 3) < 0.01
    True
    """
    reference, current = reference[np.isfinite(reference)], current[np.isfinite(current)]
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    edges[0], edges[-1] = -np.inf, np.inf
    a = np.histogram(reference, edges)[0] / len(reference)
    b = np.histogram(current, edges)[0] / len(current)
    a, b = np.clip(a, 1e-4, None), np.clip(b, 1e-4, None)
    return float(np.sum((b - a) * np.log(b / a)))

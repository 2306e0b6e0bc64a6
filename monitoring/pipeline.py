"""One drift report: PSI vs the model's training reference, adversarial validation of last week vs this week,
the prediction monitor over what was served, plots and a static HTML page. No Dagster here; the
``drift_report`` asset and scripts call :func:`drift_report`."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from monitoring import predictions
from monitoring.adversarial import adversarial_columns, adversarial_validation
from monitoring.drift import MISSING_RISE, PSI_THRESHOLD, drift_columns, psi, psi_drift
from monitoring.report import adversarial_png, html_report, psi_png, signals_png

ADV_THRESHOLD = 0.60


@dataclass(frozen=True)
class DriftSettings:
    psi_threshold: float = PSI_THRESHOLD
    adversarial_threshold: float = ADV_THRESHOLD
    max_rows: int = 100_000  # per window, uniformly sampled (seeded) before PSI and the classifier
    seed: int = 0
    missing_rise: float = MISSING_RISE  # a feature's missing share rising by more than this is drift


def _sample(t: pa.Table, n: int, rng: np.random.Generator) -> pa.Table:
    if t.num_rows <= n:
        return t
    return t.take(np.sort(rng.choice(t.num_rows, n, replace=False)))


def _matrix(t: pa.Table, cols: list[str]) -> tuple[np.ndarray, np.ndarray]:
    X = np.column_stack([t.column(c).to_numpy(zero_copy_only=False).astype(np.float64) for c in cols])
    return X, t.column("ts").cast(pa.int64()).to_numpy()


def drift_report(
    out_dir: str,
    names: list[str],
    reference: pa.Table,
    last_week: pa.Table | None,
    this_week: pa.Table,
    signals: pa.Table | None = None,
    reference_signals: pa.Table | None = None,
    latency: dict | None = None,
    settings: DriftSettings = DriftSettings(),
    title: str = "tickwise drift report",
    inputs_missing: dict[str, tuple[float, float]] | None = None,
) -> dict:
    """Compute and write everything; returns the JSON-able summary the sensors read.

    ``reference`` is the champion's training window (or last week when there is no champion); ``this_week``
    the recent window. Adversarial validation needs ``last_week``; without it ``adversarial_auc`` is None.
    ``inputs_missing`` adds inputs' missing shares (reference, current) to the features' (the bars' two-sided quote:
    :func:`monitoring.drift.unquoted`), judged alike.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(settings.seed)
    ref = _sample(reference, settings.max_rows, rng)
    cur = _sample(this_week, settings.max_rows, rng)
    cols = [c for c in drift_columns(names) if c in ref.column_names]
    res = psi_drift(
        ref.to_pandas(),
        cur.to_pandas(),
        cols,
        settings.psi_threshold,
        str(out / "evidently.html"),
        settings.missing_rise,
    )
    res.missing.update(inputs_missing or {})
    figures = {"PSI by feature": psi_png(res.psi, settings.psi_threshold, str(out / "psi.png"))}
    summary: dict = {
        "psi": res.psi,
        "psi_threshold": settings.psi_threshold,
        "psi_skipped": res.skipped,
        "drifted": res.drifted,
        "psi_max": res.worst[1] if res.worst else 0.0,
        "psi_worst": res.worst[0] if res.worst else None,
        # features whose share of missing values rose (reference, current): PSI bins only the values present
        "going_missing": {k: [round(a, 4), round(b, 4)] for k, (a, b) in res.going_missing.items()},
        "missing_rise": settings.missing_rise,
        "reference_rows": reference.num_rows,
        "current_rows": this_week.num_rows,
        "evidently_html": res.html,
        "adversarial_auc": None,
        "adversarial_threshold": settings.adversarial_threshold,
        "adversarial_top": [],
    }
    if last_week is not None and last_week.num_rows:
        prev = _sample(last_week, settings.max_rows, rng)
        acols = adversarial_columns(cols)
        (Xa, ta), (Xb, tb) = _matrix(prev, acols), _matrix(cur, acols)
        adv = adversarial_validation(Xa, ta, Xb, tb, acols, seed=settings.seed)
        summary.update(
            adversarial_auc=adv.auc,
            adversarial_fold_aucs=adv.fold_aucs,
            adversarial_top=[(k, round(v, 4)) for k, v in adv.top[:10]],
        )
        figures["last week vs this week"] = adversarial_png(
            adv.top, adv.auc, settings.adversarial_threshold, str(out / "adversarial.png")
        )
    if signals is not None and signals.num_rows:
        mon = predictions.summary(signals)
        cyc = predictions.per_cycle(signals)
        p = signals.column("p_up").to_numpy().astype(np.float64)
        if reference_signals is not None and reference_signals.num_rows:
            mon["p_up_psi_vs_reference"] = psi(reference_signals.column("p_up").to_numpy().astype(np.float64), p)
        summary["predictions"] = mon
        figures["served p_up"] = signals_png(p, cyc.column("mean_p_up").to_numpy(), str(out / "signals.png"))
    if latency:
        summary["latency"] = latency
    summary["figures"] = figures
    facts = {
        "worst feature (PSI)": f"{summary['psi_worst']} {summary['psi_max']:.3f}",
        "features over the PSI threshold": ", ".join(res.drifted) or "none",
        "features going missing (share of rows, reference → current)": ", ".join(
            f"{k} {a:.0%} → {b:.0%}" for k, (a, b) in res.going_missing.items()
        )
        or "none",
        "adversarial AUC": summary["adversarial_auc"],
        "rows reference / current": f"{reference.num_rows:,} / {this_week.num_rows:,}",
        **({"served signals": summary["predictions"]} if "predictions" in summary else {}),
        **({"scorer latency (ms)": latency} if latency else {}),
    }
    summary["html"] = html_report(
        str(out / "index.html"), title, figures, facts, {"evidently data-drift report": str(out / "evidently.html")}
    )
    return summary

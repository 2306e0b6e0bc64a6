"""Pictures and static HTML pages for the reports (drift, evaluation, paper trading): figures as tables with their
units and meanings, plots inline, each page linked to its runs, to the same day's other reports and to an index of
every report (``<lake>/reports/index.html``)."""

import html
from pathlib import Path

import numpy as np


def _plt():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def psi_png(psi: dict[str, float], threshold: float, path: str, top: int = 20) -> str:
    """Horizontal bars of PSI per feature (largest first), the alert threshold as a dashed line."""
    plt = _plt()
    items = list(psi.items())[:top][::-1]
    vals = [min(v, 10.0) for _, v in items]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(items) + 1.2))
    ax.barh([k for k, _ in items], vals, color=["#d62728" if v > threshold else "#1f77b4" for v in vals])
    ax.axvline(threshold, color="k", ls="--", lw=1, label=f"alert threshold {threshold}")
    ax.set_xlabel("PSI (current vs reference; capped at 10)")
    ax.set_title("Feature drift (PSI)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def adversarial_png(top: list[tuple[str, float]], auc: float, threshold: float, path: str, n: int = 12) -> str:
    plt = _plt()
    items = top[:n][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(items) + 1.2))
    ax.barh([k for k, _ in items], [v for _, v in items], color="#ff7f0e")
    ax.set_xlabel("share of the adversarial classifier's gain")
    verdict = "drift" if auc > threshold else "no drift"
    ax.set_title(f"Last week vs this week: AUC {auc:.3f} (threshold {threshold}) — {verdict}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def signals_png(p_up: np.ndarray, cycle_mean: np.ndarray, path: str) -> str:
    """Served p_up: its histogram and the per-minute mean through the session."""
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.4))
    a.hist(p_up, bins=50, color="#2ca02c")
    a.axvline(0.5, color="k", ls="--", lw=1)
    a.set_title("served p_up")
    a.set_xlabel("p_up")
    b.plot(cycle_mean, lw=1)
    b.axhline(0.5, color="k", ls="--", lw=1)
    b.set_title("mean p_up per cycle")
    b.set_xlabel("minute of the session")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# what a figure on a report page means, and its unit: shown beside it
GLOSSARY: dict[str, tuple[str, str]] = {
    "ic": ("", "rank correlation of p_up with the realized return, per session, averaged (0 = no skill)"),
    "icir": ("", "the IC's mean over its standard deviation across sessions"),
    "baseline_ic": ("", "the logistic baseline's IC on the same folds: the model must beat it"),
    "logloss": ("nats", "log loss of p_up against the label (0.693 = a coin)"),
    "baseline_logloss": ("nats", "the logistic baseline's log loss"),
    "brier": ("", "mean squared error of p_up (0.25 = a coin)"),
    "ece": ("", "expected calibration error: how far p_up is from the frequency it predicts"),
    "baseline_ece": ("", "the baseline's calibration error"),
    "auc": ("", "ROC AUC of p_up for the up label (0.5 = no skill)"),
    "baseline_auc": ("", "the baseline's ROC AUC"),
    "pr_auc": ("", "precision-recall AUC"),
    "f1": ("", "F1 of p_up > 0.5"),
    "base_rate": ("share", "share of up labels"),
    "precision_at_k": ("share", "share of the top-k names per minute that went up"),
    "sharpe": ("annualized", "Sharpe ratio of the backtest net of costs"),
    "sharpe_gross": ("annualized", "Sharpe ratio before costs"),
    "dsr": ("probability", "deflated Sharpe ratio: probability the true Sharpe exceeds 0 given the trials run"),
    "max_drawdown": ("return", "worst fall of the net equity curve from its peak"),
    "turnover": ("weight/minute", "weight traded per minute"),
    "hit_rate": ("share", "share of opened positions that made money net of costs"),
    "cost_share": ("share", "costs as a share of gross profit and loss"),
    "unpriced_share": ("share", "traded weight with no quoted spread (charged the fee only)"),
    "overlap_factor": ("", "variance inflation from overlapping holding periods"),
    "edge_bps": ("bp", "gross return per unit of weight traded"),
    "cost_bps": ("bp", "cost per unit of weight traded"),
    "total_return": ("return", "sum of the net minute returns"),
    "gross_return": ("return", "sum of the gross minute returns"),
    "quoted_share": ("share", "labelled events with a quoted spread"),
    "n_trials": ("", "hyperparameter trials run (the DSR deflates for them)"),
    "folds": ("", "walk-forward folds"),
    "horizon": ("minutes", "label horizon"),
    "k": ("names", "names held long and short each minute"),
    "fee_bps": ("bp", "fee per side"),
    "n_minutes": ("minutes", "minutes in the backtest"),
    "days": ("", "sessions in the training window"),
    "signals": ("rows", "signals served (symbol-minutes)"),
    "cycles": ("minutes", "minutes scored"),
    "model": ("minutes", "minutes the model scored"),
    "fallback": ("minutes", "minutes the momentum fallback served"),
    "breaker": ("minutes", "minutes the circuit breaker neutralized"),
    "mean_p_up": ("", "mean served p_up"),
    "share_up": ("share", "served p_up above 0.5"),
    "adversarial AUC": ("", "a classifier telling last week from this week (0.5 = the same market)"),
}
KINDS = ("evaluation", "drift", "paper")  # reports/<kind>/date=YYYY-MM-DD/index.html
_RUNS = ("<!--runs-->", "<!--/runs-->")
_RELATED = ("<!--related-->", "<!--/related-->")


def html_report(path: str, title: str, figures: dict[str, str], facts: dict, links: dict[str, str]) -> str:
    """A self-contained page: the key figures as a table (value, unit, meaning), the PNGs inline (relative links),
    other files. :func:`publish` adds its runs and the day's other reports."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = "".join(_row(str(k), v) for k, v in facts.items())
    imgs = "".join(
        f'<figure><img src="{html.escape(_rel(p, out))}" alt="{html.escape(n)}"><figcaption>{html.escape(n)}'
        "</figcaption></figure>"
        for n, p in figures.items()
    )
    refs = "".join(f'<li><a href="{html.escape(_rel(p, out))}">{html.escape(n)}</a></li>' for n, p in links.items())
    out.write_text(
        f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style>"
        f"<h1>{html.escape(title)}</h1>{_RUNS[0]}{_RUNS[1]}{_RELATED[0]}{_RELATED[1]}"
        f"<table>{rows}</table><ul>{refs}</ul>{imgs}"
    )
    return str(out)


_STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto}th{text-align:left;padding-right:2em;"
    "vertical-align:top}td{padding-right:1.5em;vertical-align:top}td.m{color:#555;font-size:90%}"
    "img{max-width:100%}figure{margin:1.5em 0}nav{margin:.5em 0 1.5em}nav a{margin-right:1.2em}"
)


def publish(page: str, runs: dict[str, str]) -> str:
    """Link a report page into its reports folder: its runs (MLflow, Dagster: name -> URL) on it, the same day's
    other reports on it and on each of them, and the index of every report, rewritten. Returns the index's path."""
    p = Path(page)
    root, day = p.parents[2], p.parent.name
    _splice(p, _RUNS, "".join(f'<a href="{html.escape(u)}">{html.escape(n)}</a>' for n, u in runs.items()))
    pages = {k: root / k / day / "index.html" for k in KINDS}
    present = {k: q for k, q in pages.items() if q.is_file()}
    for kind, q in present.items():
        others = "".join(f'<a href="../../{k}/{day}/index.html">{k}</a>' for k in present if k != kind)
        _splice(q, _RELATED, f'<a href="../../index.html">all reports</a>{others}')
    return write_index(root)


def write_index(root: Path) -> str:
    """``<root>/index.html``: every day's reports, newest first, one column per kind."""
    days = sorted({d.name for k in KINDS if (root / k).is_dir() for d in (root / k).iterdir()}, reverse=True)
    head = "".join(f"<th>{k}</th>" for k in KINDS)
    body = ""
    for day in days:
        cells = "".join(
            f'<td><a href="{k}/{day}/index.html">{k}</a></td>'
            if (root / k / day / "index.html").is_file()
            else "<td></td>"
            for k in KINDS
        )
        body += f"<tr><th>{html.escape(day.removeprefix('date='))}</th>{cells}</tr>"
    out = root / "index.html"
    out.write_text(
        f"<!doctype html><meta charset=utf-8><title>tickwise reports</title><style>{_STYLE}</style>"
        f"<h1>tickwise reports</h1><table><tr><th>session</th>{head}</tr>{body}</table>"
    )
    return str(out)


def _splice(page: Path, marks: tuple[str, str], inner: str) -> None:
    text = page.read_text()
    a, b = text.index(marks[0]) + len(marks[0]), text.index(marks[1])
    page.write_text(text[:a] + (f"<nav>{inner}</nav>" if inner else "") + text[b:])


def _row(name: str, v: object) -> str:
    unit, meaning = GLOSSARY.get(name, ("", ""))
    value = _cell(v) + (f" {html.escape(unit)}" if unit and not isinstance(v, dict | list) else "")
    return f"<tr><th>{html.escape(name)}</th><td>{value}</td><td class=m>{html.escape(meaning)}</td></tr>"


def _cell(v: object) -> str:
    """A value for people: floats to 4 significant digits, a mapping as a small table, a list as a list."""
    if isinstance(v, dict):
        return "<table>" + "".join(_row(str(k), x) for k, x in v.items()) + "</table>"
    if isinstance(v, list | tuple):
        return ", ".join(_cell(x) for x in v)
    return html.escape(_fmt(v))


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _rel(p: str, page: Path) -> str:
    if "://" in p:
        return p
    try:
        return str(Path(p).resolve().relative_to(page.parent.resolve()))
    except ValueError:
        return Path(p).resolve().as_uri()

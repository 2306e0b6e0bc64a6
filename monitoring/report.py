"""Pictures and a static HTML page per drift report: PSI by feature, what separates the weeks, served p_up."""

import html
import json
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


def html_report(path: str, title: str, figures: dict[str, str], facts: dict, links: dict[str, str]) -> str:
    """A self-contained index page: the key figures as a table, the PNGs inline (relative links), other reports."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>" for k, v in facts.items())
    imgs = "".join(
        f'<figure><img src="{html.escape(_rel(p, out))}" alt="{html.escape(n)}"><figcaption>{html.escape(n)}'
        "</figcaption></figure>"
        for n, p in figures.items()
    )
    refs = "".join(f'<li><a href="{html.escape(_rel(p, out))}">{html.escape(n)}</a></li>' for n, p in links.items())
    out.write_text(
        f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}th{text-align:left;padding-right:2em}"
        "img{max-width:100%}figure{margin:1.5em 0}</style>"
        f"<h1>{html.escape(title)}</h1><table>{rows}</table><ul>{refs}</ul>{imgs}"
    )
    return str(out)


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict | list):
        return json.dumps(v, default=str)
    return str(v)


def _rel(p: str, page: Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(page.parent.resolve()))
    except ValueError:
        return Path(p).resolve().as_uri()

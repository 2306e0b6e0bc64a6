"""Plots as Dagster metadata: PNG files embedded in markdown so the UI shows them inline."""

import base64
from pathlib import Path

import dagster as dg


def png_md(path: str, title: str) -> dg.MetadataValue:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return dg.MetadataValue.md(f"**{title}**\n\n![{title}](data:image/png;base64,{data})")


def importance_png(importance: list[tuple[str, float]], path: str, top: int = 15) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, _ in importance[:top]][::-1]
    vals = [v for _, v in importance[:top]][::-1]
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.barh(names, vals, color="#1f77b4")
    ax.set_xlabel("share of total gain")
    ax.set_title("LightGBM feature importance (mean over folds)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

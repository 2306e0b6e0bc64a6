"""The picture behind ``tickwise ffd-d`` (Lopez de Prado's figure 5.5 across a cross-section): as d grows, the
share of symbols whose FFD series is stationary rises and the memory it keeps of the price falls; the chosen d is
the first that reaches the share asked for."""

import numpy as np

from features.kernels.ffd import ffd_weights


def memory_kept(log_prices: list[np.ndarray], grid: tuple[float, ...]) -> np.ndarray:
    """Per ``d`` of ``grid``, the median over the series (those long enough for that d's window) of the correlation
    between the FFD series and the log price it came from: 1 keeps the price's level, near 0 keeps only its changes.

    >>> rng = np.random.default_rng(0)
    >>> walk = [np.cumsum(rng.normal(size=3000))]
    >>> m = memory_kept(walk, (0.1, 1.0))
    >>> bool(m[0] > 0.5 > m[1])
    True
    """
    out = np.full(len(grid), np.nan)
    for j, d in enumerate(grid):
        w = ffd_weights(d)
        cors = [
            np.corrcoef(np.convolve(lp, w, mode="valid"), lp[len(w) - 1 :])[0, 1]
            for lp in log_prices
            if len(lp) >= 2 * len(w) + 20
        ]
        out[j] = np.median(cors) if cors else np.nan
    return out


def plot_ffd_choice(
    grid: tuple[float, ...], stationary: np.ndarray, memory: np.ndarray, chosen: float, share: float, path: str
) -> str:
    """Share of symbols stationary and memory kept against d, with the share asked for and the d chosen; a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.3))
    ax.plot(grid, stationary, "o-", color="tab:blue", label="symbols stationary (ADF 5 %)")
    ax.plot(grid, memory, "s--", color="tab:orange", label="memory kept (median corr. with the log price)")
    ax.axhline(share, color="tab:blue", lw=0.8, ls=":")
    ax.axvline(chosen, color="black", lw=1.0, ls=":", label=f"chosen d = {chosen:g}")
    ax.set(xlabel="d", ylabel="share / correlation", ylim=(-0.05, 1.05), title="FFD: the least d that is stationary")
    fig.legend(loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

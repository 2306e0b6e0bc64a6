"""The compiled engine step: the default feature set as one numba loop over the cross-section.

:class:`FusedStep` reads the kernels' parameters and hands their state arrays (the same arrays the numpy kernels
use, so save/restore, corporate actions and registration are untouched) to :func:`features.fused.core.minute`.
It applies only to the default kernel list; any other list runs the numpy kernels.
"""

from typing import NamedTuple, cast

import numpy as np

from features.fused.cache_guard import invalidate_stale_cache
from features.kernels.crossasset import CrossAsset
from features.kernels.ffd import FFD
from features.kernels.micro import SpreadImbalance
from features.kernels.momentum import MACD, ROC, RSI, MovingAverages
from features.kernels.volatility import ATR, Bollinger, RealizedVol
from features.kernels.volume import OBV, SD_FLOOR, VolumeTimeOfDay, VWAPDeviation
from features.spec import Kernel, State, ewm_alpha

invalidate_stale_cache()  # before any compiled function of the package is loaded from disk

FUSED_KERNELS = (
    ROC,
    RSI,
    MACD,
    MovingAverages,
    Bollinger,
    ATR,
    RealizedVol,
    OBV,
    VolumeTimeOfDay,
    VWAPDeviation,
    SpreadImbalance,
    FFD,
    CrossAsset,
)


class Params(NamedTuple):
    roc_w: np.ndarray
    rsi_p: int
    macd_fast: int
    macd_slow: int
    macd_signal: int
    ma_w: int
    bb_k: float
    atr_p: int
    rv_alpha: np.ndarray
    obv_w: int
    obv_alpha: float
    vtod_a_day: float
    vtod_a_all: float
    vtod_floor: float
    micro_alpha: float
    ffd_w: np.ndarray
    ffd_wr: np.ndarray  # the weights oldest first (the FFD window's order)
    col: np.ndarray  # first output column of each kernel (the engine's kernel_cols)
    x_windows: np.ndarray
    x_beta_alpha: float
    x_vol_alpha: float
    x_rank_w: int
    x_beta_clip: float
    warmup: np.ndarray


def supports(kernels: list[Kernel]) -> bool:
    return tuple(type(k) for k in kernels) == FUSED_KERNELS


def params(kernels: list[Kernel], warmup: np.ndarray, kernel_cols: list[tuple[int, int, list[str]]]) -> Params:
    roc, rsi, macd, ma = (
        cast(ROC, kernels[0]),
        cast(RSI, kernels[1]),
        cast(MACD, kernels[2]),
        cast(MovingAverages, kernels[3]),
    )
    bb, atr, rv, obv = (
        cast(Bollinger, kernels[4]),
        cast(ATR, kernels[5]),
        cast(RealizedVol, kernels[6]),
        cast(OBV, kernels[7]),
    )
    vtod, mic, ffd = cast(VolumeTimeOfDay, kernels[8]), cast(SpreadImbalance, kernels[10]), cast(FFD, kernels[11])
    xa = cast(CrossAsset, kernels[12])
    return Params(
        roc_w=np.array(roc.windows, np.int64),
        rsi_p=int(rsi.period),
        macd_fast=int(macd.fast),
        macd_slow=int(macd.slow),
        macd_signal=int(macd.signal),
        ma_w=int(ma.window),
        bb_k=float(bb.k),
        atr_p=int(atr.period),
        rv_alpha=np.array([ewm_alpha(h) for h in rv.halflives]),
        obv_w=int(obv.window),
        obv_alpha=ewm_alpha(obv.halflife),
        vtod_a_day=max(ewm_alpha(vtod.halflife_days), 0.0),
        vtod_a_all=ewm_alpha(390 * vtod.halflife_days),
        vtod_floor=float(SD_FLOOR),
        micro_alpha=ewm_alpha(mic.halflife),
        ffd_w=np.ascontiguousarray(ffd.w, np.float64),
        ffd_wr=np.ascontiguousarray(ffd.w[::-1], np.float64),
        col=np.array([a for a, _, _ in kernel_cols], np.int64),
        x_windows=np.array(xa.windows, np.int64),
        x_beta_alpha=ewm_alpha(xa.beta_halflife),
        x_vol_alpha=ewm_alpha(xa.vol_halflife),
        x_rank_w=int(xa.rank_window),
        x_beta_clip=float(xa.beta_clip),
        warmup=np.asarray(warmup, np.int64),
    )


def state_tuples(kernels: list[Kernel], states: list[State]) -> tuple:
    """The kernels' state arrays, in the order :func:`features.fused.core.minute` unpacks them."""
    roc, rsi, macd, ma, bb, atr, rv, obv, vtod, vwap, mic, ffd, xa = states
    if "_pre" not in ffd:  # a snapshot from before the prepared partial sums: none prepared
        ffd["_pre"], ffd["_pre_ptr"] = np.zeros((8, 0), order="F"), np.full((), -1, np.int64)
    return (
        (roc["cum"], roc["hist"], roc["hist_n"]),
        (rsi["gain"], rsi["loss"], rsi["n"]),
        (macd["fast"], macd["slow"], macd["sig"]),
        (ma["ema"], ma["buf"], ma["buf_n"]),
        (bb["buf"], bb["buf_n"], bb["sums"]),
        (atr["atr"], atr["n"]),
        tuple(rv[f"v{h}"] for h in cast(RealizedVol, kernels[6]).halflives),
        (obv["obv"], obv["v2"], obv["n"], obv["hist"], obv["hist_n"]),
        (vtod["tod"], vtod["gm"], vtod["gs"], vtod["gc"]),
        (vwap["spv"], vwap["sv"], vwap["sess"], vwap["pv"], vwap["pv_n"], vwap["v"], vwap["v_n"], vwap["run"]),
        (mic["spread"], mic["spread_s"], mic["obi"], mic["obi_s"]),
        (ffd["buf"], ffd["seen"], ffd["last"], ffd["_ptr"].reshape(1), ffd["_pre"], ffd["_pre_ptr"].reshape(1)),
        (xa["csum"], xa["cov"], xa["var"], xa["rv"], xa["n"], xa["hist"], xa["hist_n"]),
    )

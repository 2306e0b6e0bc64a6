"""Feature kernels, one family per module. Each is vectorized over the symbol axis."""

from features.kernels.crossasset import CrossAsset
from features.kernels.ffd import FFD
from features.kernels.micro import SpreadImbalance
from features.kernels.momentum import MACD, ROC, RSI, MovingAverages
from features.kernels.volatility import ATR, Bollinger, RealizedVol
from features.kernels.volume import OBV, VolumeTimeOfDay, VWAPDeviation
from features.spec import Kernel

# the columns the serving fallback reads when the model fails, by role (a feature set of other kernels declares
# its own through FeatureEngine(fallback_inputs=...))
FALLBACK_INPUTS = {"momentum": "roc_5", "volatility": "rv_ewm_30"}

FFD_D = 0.4  # the default differencing order of ffd_<100 d> (``tickwise ffd-d`` chooses one on training data)


def default_kernels(ffd_d: float = FFD_D) -> list[Kernel]:
    return [
        ROC(),
        RSI(),
        MACD(),
        MovingAverages(),
        Bollinger(),
        ATR(),
        RealizedVol(),
        OBV(),
        VolumeTimeOfDay(),
        VWAPDeviation(),
        SpreadImbalance(),
        FFD(ffd_d),
        CrossAsset(),
    ]

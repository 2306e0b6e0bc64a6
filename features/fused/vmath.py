"""A natural logarithm that LLVM can vectorize (libm's ``log`` is an opaque call, one lane at a time).

fdlibm's algorithm (as in musl's ``log.c``): reduce ``x = 2^k (1 + f)`` with ``1 + f`` in ``[sqrt(2)/2, sqrt(2))``,
then ``log(1 + f) = f - hfsq + s (hfsq + R(s^2))`` with ``s = f / (2 + f)`` and a degree-14 minimax ``R``; error
below 1 ulp (``tests/features/test_fused.py`` checks it against numpy on random and edge inputs). Both engine
paths call this same function, so the log does not break online/offline bit equality. For positive, finite,
normal inputs only: the callers pass prices and ``1 + volume``.
"""

import numpy as np
from numba import njit

LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
LG1 = 6.666666666666735130e-01
LG2 = 3.999999999940941908e-01
LG3 = 2.857142874366239149e-01
LG4 = 2.222219843214978396e-01
LG5 = 1.818357216161805012e-01
LG6 = 1.531383769920937332e-01
LG7 = 1.479819860511658591e-01
HI_SQRT_HALF = 0x3FE6A09E  # high word of sqrt(2)/2
LOW32 = 0xFFFFFFFF


@njit(cache=True, inline="always")
def vlog(x):
    """``log(x)`` for positive finite normal ``x``, within 1 ulp.

    >>> round(float(vlog(np.e)), 15), float(vlog(1.0)), float(vlog(8.0)) == float(np.log(8.0))
    (1.0, 0.0, True)
    """
    bits = np.float64(x).view(np.int64)
    hx = (bits >> 32) + (0x3FF00000 - HI_SQRT_HALF)
    k = (hx >> 20) - 0x3FF
    hx = (hx & 0x000FFFFF) + HI_SQRT_HALF
    m = np.int64((hx << 32) | (bits & LOW32)).view(np.float64)
    f = m - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (LG2 + w * (LG4 + w * LG6))
    t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)))
    r = t2 + t1
    dk = np.float64(k)
    return s * (hfsq + r) + dk * LN2_LO - hfsq + f + dk * LN2_HI

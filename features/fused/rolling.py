"""Rolling window sums kept as compensated running sums instead of re-summed every minute: the rolling VWAP's
(:func:`push_sums`) and the Bollinger bands' (:func:`bands_push`, anchored sums of the price and its square).

The numpy kernel (:class:`features.kernels.volume.VWAPDeviation`) sums its two 30-slot rings (price x volume,
volume) every minute: 60 loads and adds, over eight cache lines a symbol. Here each push adds the new value and
subtracts the one it overwrites, in compensated (Kahan-Neumaier) form, so the sums stay within a few ulps of the
rings' exact sums however far the values range (a 10^9-share minute leaving a window of 100-share minutes loses
no digits; without the compensation the rolling VWAP is then 2.6e-7 off, ``tests/features/test_fused.py``). The
state ``run`` ``(6, n)`` holds, per symbol: the two sums and their compensations, how many volumes in the window
are positive (the VWAP exists iff one is: a sum that cancelled to a few ulps must not stand for a traded window),
and the push count they belong to.

They are used only when that count is the ring's: anything else that moves the rings — the numpy kernel stepping
the same state, a corporate action's rescale, a snapshot from before this state existed — leaves it behind, and the
next push re-sums the ring. So does a non-finite value entering or leaving: while one is in the window the value
is the rings' plain sums, as in the numpy kernel.
"""

import math

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from features.fused.ops import ring_sum

ANCHOR = 64.0  # the Bollinger sums' anchor may sit this many variances (squared) from the window's mean


@njit(cache=True, inline="always")
def kahan(s, e, x):
    """``s + x`` with ``e`` the running compensation (Neumaier's form of Kahan's: it also keeps the digits of ``s``
    when ``x`` is the larger); the true sum is ``s + e``."""
    t = s + x
    e += (s - t) + x if abs(s) >= abs(x) else (x - t) + s
    return t, e


@njit(cache=True, inline="always")
def resum(pv, vv, run, i):
    """``run``'s sums of symbol ``i`` from its rings, slot by slot."""
    a = e = b = f = 0.0
    pos = 0
    for j in range(pv.shape[0]):
        a, e = kahan(a, e, pv[j, i])
        b, f = kahan(b, f, vv[j, i])
        pos += vv[j, i] > 0
    run[0, i], run[1, i], run[2, i], run[3, i], run[4, i] = a, e, b, f, pos


@njit(cache=True, inline="always")
def prefetch_sums(pv, pv_n, vv, run, i):
    """Ask for the lines :func:`push_sums` on symbol ``i`` will touch (the online step, a few symbols ahead)."""
    s = pv_n[i] % pv.shape[0]
    prefetch(pv, s, i)
    prefetch(vv, s, i)
    prefetch(run, 0, i)


@njit(cache=True, inline="always")
def prefetch_bands(buf, cnt, sums, mbuf, mcnt, i):
    """Ask for the lines :func:`bands_push` (and the moving average's ring push) on symbol ``i`` will touch."""
    prefetch(buf, cnt[i] % buf.shape[0], i)
    prefetch(sums, 0, i)
    prefetch(mbuf, mcnt[i] % mbuf.shape[0], i)


@njit(cache=True, inline="always")
def push_sums(pv, pv_n, vv, vv_n, run, i, pvx, vol):
    """Push ``pvx`` and ``vol`` on symbol ``i``'s rings; the window's two sums and whether a volume in it is
    positive."""
    k = pv_n[i]
    s = k % pv.shape[0]
    old_pv, old_v = pv[s, i], vv[s, i]
    pv[s, i], vv[s, i] = pvx, vol
    pv_n[i], vv_n[i] = k + 1, vv_n[i] + 1
    finite = math.isfinite(pvx) and math.isfinite(vol) and math.isfinite(old_pv) and math.isfinite(old_v)
    if run[5, i] == k and finite:
        a, e = kahan(run[0, i], run[1, i], pvx)
        a, e = kahan(a, e, -old_pv)
        b, f = kahan(run[2, i], run[3, i], vol)
        b, f = kahan(b, f, -old_v)
        pos = run[4, i] + (vol > 0) - (old_v > 0)
        run[0, i], run[1, i], run[2, i], run[3, i], run[4, i], run[5, i] = a, e, b, f, pos, k + 1
        return a + e, b + f, pos > 0
    resum(pv, vv, run, i)  # once, from the rings; their plain sums only while a non-finite value is in them
    rp, rv = run[0, i] + run[1, i], run[2, i] + run[3, i]
    if math.isfinite(rp) and math.isfinite(rv):
        run[5, i] = k + 1
        return rp, rv, run[4, i] > 0
    run[5, i] = -1
    rp, rv = ring_sum(pv, i), ring_sum(vv, i)
    return rp, rv, rv > 0


@njit(cache=True, inline="always")
def bands_push(buf, i, k, a, e, b, f, anchor, vk, c):
    """Push ``c`` on symbol ``i``'s Bollinger ring (``k`` pushes so far); the new running sums, anchor and valid push
    count, then the window's sum and (population) variance.

    The state ``sums`` ``(6, n)`` holds per symbol (here as the values ``a, e, b, f, anchor, vk``) the compensated
    sums of ``x - K`` and ``(x - K)^2`` over the ring with their compensations, the anchor ``K``, and the push count
    they belong to. A push updates them in O(1); the variance ``S2 / w - (S1 / w)^2`` then loses at most
    ``ANCHOR`` ulps' worth of digits, as the anchor stays within ``sqrt(ANCHOR)`` standard deviations of the
    mean. When it strays further, when the variance comes out as zero
    (a flat window is exactly flat), when anything else moved the ring, or while a non-finite value is in it, the
    ring is summed in two passes (its mean, then the compensated sums of the deviations from it) and the sums are
    re-anchored at the mean."""
    w = buf.shape[0]
    s = k % w
    old = buf[s, i]
    buf[s, i] = c
    if vk == k and math.isfinite(c):  # valid sums: every value in the ring is finite
        dn, do = c - anchor, old - anchor
        a2, e2 = kahan(a, e, dn)
        a2, e2 = kahan(a2, e2, -do)
        b2, f2 = kahan(b, f, dn * dn)
        b2, f2 = kahan(b2, f2, -(do * do))
        m1 = (a2 + e2) / w
        var = (b2 + f2) / w - m1 * m1
        if var > 0 and m1 * m1 <= ANCHOR * var:
            return a2, e2, b2, f2, anchor, k + 1, anchor * w + (a2 + e2), var
    tot = ring_sum(buf, i)
    mid = tot / w
    a = e = b = f = 0.0
    for j in range(w):  # the second pass: the deviations from the mean, which anchors the sums from here on
        d = buf[j, i] - mid
        a, e = kahan(a, e, d)
        b, f = kahan(b, f, d * d)
    m1 = (a + e) / w
    var = (b + f) / w - m1 * m1
    return a, e, b, f, mid, k + 1 if math.isfinite(tot) and math.isfinite(var) else -1, tot, var


@intrinsic
def prefetch(typingctx, arr, r, c):
    """A hint that ``arr[r, c]`` will be read and written soon (LLVM's prefetch: no effect on any value)."""
    sig = types.void(arr, r, c)

    def codegen(context, builder, signature, args):
        a = context.make_array(signature.args[0])(context, builder, args[0])
        strides = cgutils.unpack_tuple(builder, a.strides)
        off = builder.add(builder.mul(args[1], strides[0]), builder.mul(args[2], strides[1]))
        ptr = builder.inttoptr(builder.add(builder.ptrtoint(a.data, ir.IntType(64)), off), ir.IntType(8).as_pointer())
        fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()] + [ir.IntType(32)] * 3)
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        builder.call(
            fn, [ptr, ir.Constant(ir.IntType(32), 1), ir.Constant(ir.IntType(32), 3), ir.Constant(ir.IntType(32), 1)]
        )
        return context.get_dummy_value()

    return sig, codegen

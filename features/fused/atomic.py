"""Atomic reads, writes and adds on an int64 array's elements, and a spin-wait hint: what the online step's two
threads (:mod:`features.fused.split`) share a minute's work through.

Numba has no atomics for the CPU, so these are LLVM's, emitted directly: sequentially consistent, so what a
thread wrote before an atomic write is seen by a thread whose atomic read sees that write (the chunk's feature
rows before its "finished" count), and the compiler moves no memory access across them.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def _element(context, builder, aryty, ary, k):
    """A pointer to ``ary[k]`` of a 1-d int64 array."""
    a = context.make_array(aryty)(context, builder, ary)
    return cgutils.get_item_pointer(context, builder, aryty, a, [k])


@intrinsic
def load(typingctx, arr, k):
    """``arr[k]``, read atomically."""

    def codegen(context, builder, signature, args):
        ptr = _element(context, builder, signature.args[0], args[0], args[1])
        return builder.load_atomic(ptr, "seq_cst", 8)

    return types.int64(arr, k), codegen


@intrinsic
def store(typingctx, arr, k, v):
    """``arr[k] = v``, written atomically."""

    def codegen(context, builder, signature, args):
        ptr = _element(context, builder, signature.args[0], args[0], args[1])
        val = context.cast(builder, args[2], signature.args[2], types.int64)
        builder.store_atomic(val, ptr, "seq_cst", 8)
        return context.get_dummy_value()

    return types.void(arr, k, v), codegen


@intrinsic
def fetch_add(typingctx, arr, k, v):
    """``arr[k] += v`` atomically; the value before the add."""

    def codegen(context, builder, signature, args):
        ptr = _element(context, builder, signature.args[0], args[0], args[1])
        val = context.cast(builder, args[2], signature.args[2], types.int64)
        return builder.atomic_rmw("add", ptr, val, "seq_cst")

    return types.int64(arr, k, v), codegen


@intrinsic
def pause(typingctx):
    """The CPU's spin-wait hint (x86 ``pause``): a waiting thread yields the core's resources for a moment."""

    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause")
        builder.call(fn, [])
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def compare_swap(typingctx, arr, k, expected, v):
    """``arr[k] = v`` if it still holds ``expected``, atomically; True if it did."""

    def codegen(context, builder, signature, args):
        ptr = _element(context, builder, signature.args[0], args[0], args[1])
        exp = context.cast(builder, args[2], signature.args[2], types.int64)
        val = context.cast(builder, args[3], signature.args[3], types.int64)
        res = builder.cmpxchg(ptr, exp, val, "seq_cst", "seq_cst")
        return builder.extract_value(res, 1)

    return types.boolean(arr, k, expected, v), codegen

"""SIMD vectors inside Numba kernels: a vector type and the handful of intrinsics GEMM tiles need.

Numba's auto-vectorizer targets 256-bit registers even on AVX-512 hosts (LLVM prefers 256 bits
there), and it cannot be told to keep a register tile of accumulators. These intrinsics are the
`_mm512_*` of this project: explicit `<W x float>` values that LLVM maps onto zmm registers when the
host has AVX-512F and onto pairs of ymm otherwise. W = VEC_BYTES / itemsize, fixed per process
from the host's CPU features (Numba's cache is keyed by CPU, so cached code never crosses hosts).

    lanes_of(arr)              W for arr's dtype, a compile-time constant
    vzeros(arr)                vector of zeros of arr's dtype
    vsplat(x)                  every lane = x
    vbroadcast(arr, i)         every lane = arr.flat[i]
    vload(arr, i, n)           lanes j < n = arr.flat[i + j], others 0 (masked: never reads past n)
    vstore(arr, i, v, n)       arr.flat[i + j] = v[j] for j < n (masked)
    vgather(arr, i, s, n)      lanes j < n = arr.flat[i + j*s], others 0 (a strided column)
    vfma(a, b, c)              a * b + c, one rounding per lane
    vadd(a, b)                 a + b
    vsum(v)                    sum of the lanes (pairwise tree)
Indices are element offsets into the array's data, unchecked: callers keep them in bounds.
"""
import llvmlite.binding as llb
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

_FEATURES = llb.get_host_cpu_features().flatten().split(",")
VEC_BYTES = 64 if "+avx512f" in _FEATURES else 32
_I32 = ir.IntType(32)


class Vec(types.Type):
    """Numba type of a SIMD vector of `lanes` values of `dtype`."""

    def __init__(self, dtype, lanes):
        self.dtype, self.lanes = dtype, lanes
        super().__init__(name=f"Vec({dtype}x{lanes})")


@register_model(Vec)
class VecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        elem = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(elem, fe_type.lanes))


def lanes(dtype):
    """Lanes per vector for a NumPy or Numba float dtype on this host."""
    bits = dtype.bitwidth if isinstance(dtype, types.Type) else dtype.itemsize * 8
    return VEC_BYTES * 8 // bits


def _vec(dtype):
    if not isinstance(dtype, types.Float):
        raise TypeError(f"simd: vectors hold float32 or float64, got {dtype}")
    return Vec(dtype, lanes(dtype))


def _elem_ptr(context, builder, arrty, arr, idx):
    data = context.make_array(arrty)(context, builder, arr).data
    return builder.gep(data, [idx])


def _splat(builder, vty, x):
    v = builder.insert_element(ir.Constant(vty, ir.Undefined), x, ir.Constant(_I32, 0))
    zeros = ir.Constant(ir.VectorType(_I32, vty.count), [0] * vty.count)
    return builder.shuffle_vector(v, ir.Constant(vty, ir.Undefined), zeros)


def _mask(builder, vt, n):
    # <lanes x i1>: lane j < n
    iota = ir.Constant(ir.VectorType(n.type, vt.lanes), list(range(vt.lanes)))
    return builder.icmp_signed("<", iota, _splat(builder, iota.type, n))


def _llvm_fn(builder, name, ret, args):
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(ret, args), name)


def _suffix(vt):
    return f"v{vt.lanes}f{vt.dtype.bitwidth}"


@intrinsic
def lanes_of(typingctx, arr):
    w = lanes(arr.dtype)

    def codegen(context, builder, sig, args):
        return context.get_constant(types.intp, w)
    return types.intp(arr), codegen


@intrinsic
def vzeros(typingctx, arr):
    vt = _vec(arr.dtype)

    def codegen(context, builder, sig, args):
        return ir.Constant(context.get_value_type(vt), None)
    return vt(arr), codegen


@intrinsic
def vsplat(typingctx, x):
    vt = _vec(x)

    def codegen(context, builder, sig, args):
        return _splat(builder, context.get_value_type(vt), args[0])
    return vt(x), codegen


@intrinsic
def vbroadcast(typingctx, arr, idx):
    vt = _vec(arr.dtype)

    def codegen(context, builder, sig, args):
        x = builder.load(_elem_ptr(context, builder, arr, args[0], args[1]))
        return _splat(builder, context.get_value_type(vt), x)
    return vt(arr, idx), codegen


@intrinsic
def vload(typingctx, arr, idx, n):
    vt = _vec(arr.dtype)

    def codegen(context, builder, sig, args):
        vty = context.get_value_type(vt)
        ptr = _elem_ptr(context, builder, arr, args[0], args[1])
        mask = _mask(builder, vt, context.cast(builder, args[2], n, types.intp))
        fn = _llvm_fn(builder, f"llvm.masked.load.{_suffix(vt)}.p0", vty,
                      [ptr.type, _I32, mask.type, vty])
        align = ir.Constant(_I32, vt.dtype.bitwidth // 8)
        return builder.call(fn, [ptr, align, mask, ir.Constant(vty, None)])
    return vt(arr, idx, n), codegen


@intrinsic
def vstore(typingctx, arr, idx, v, n):
    def codegen(context, builder, sig, args):
        ptr = _elem_ptr(context, builder, arr, args[0], args[1])
        mask = _mask(builder, v, context.cast(builder, args[3], n, types.intp))
        vty = context.get_value_type(v)
        fn = _llvm_fn(builder, f"llvm.masked.store.{_suffix(v)}.p0", ir.VoidType(),
                      [vty, ptr.type, _I32, mask.type])
        builder.call(fn, [args[2], ptr, ir.Constant(_I32, v.dtype.bitwidth // 8), mask])
        return context.get_dummy_value()
    return types.none(arr, idx, v, n), codegen


@intrinsic
def vfma(typingctx, a, b, c):
    if not (isinstance(a, Vec) and a == b == c):
        return None

    def codegen(context, builder, sig, args):
        vty = context.get_value_type(a)
        return builder.call(_llvm_fn(builder, f"llvm.fma.{_suffix(a)}", vty, [vty] * 3), args)
    return a(a, b, c), codegen


@intrinsic
def vsum(typingctx, v):
    if not isinstance(v, Vec):
        return None

    def codegen(context, builder, sig, args):
        x, width = args[0], v.lanes
        while width > 1:  # add the upper half onto the lower half
            width //= 2
            hi = builder.shuffle_vector(x, x, ir.Constant(ir.VectorType(_I32, width),
                                                          list(range(width, 2 * width))))
            lo = builder.shuffle_vector(x, x, ir.Constant(ir.VectorType(_I32, width), list(range(width))))
            x = builder.fadd(lo, hi)
        return builder.extract_element(x, ir.Constant(_I32, 0))
    return v.dtype(v), codegen


@intrinsic
def vadd(typingctx, a, b):
    if not (isinstance(a, Vec) and a == b):
        return None

    def codegen(context, builder, sig, args):
        return builder.fadd(args[0], args[1])
    return a(a, b), codegen


@intrinsic
def vgather(typingctx, arr, idx, stride, n):
    vt = _vec(arr.dtype)

    def codegen(context, builder, sig, args):
        vty = context.get_value_type(vt)
        i64 = ir.IntType(64)
        base = builder.ptrtoint(_elem_ptr(context, builder, arr, args[0], args[1]), i64)
        step = builder.mul(context.cast(builder, args[2], stride, types.int64),
                           ir.Constant(i64, vt.dtype.bitwidth // 8))
        iota = ir.Constant(ir.VectorType(i64, vt.lanes), list(range(vt.lanes)))
        addr = builder.add(_splat(builder, iota.type, base), builder.mul(iota, _splat(builder, iota.type, step)))
        ptrs = builder.inttoptr(addr, ir.VectorType(ir.PointerType(), vt.lanes))
        mask = _mask(builder, vt, context.cast(builder, args[3], n, types.intp))
        fn = _llvm_fn(builder, f"llvm.masked.gather.{_suffix(vt)}.v{vt.lanes}p0", vty,
                      [ptrs.type, _I32, mask.type, vty])
        return builder.call(fn, [ptrs, ir.Constant(_I32, vt.dtype.bitwidth // 8), mask, ir.Constant(vty, None)])
    return vt(arr, idx, stride, n), codegen

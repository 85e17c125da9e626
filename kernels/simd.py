"""SIMD vectors inside Numba kernels: a vector type and the handful of intrinsics GEMM tiles need.

Numba's auto-vectorizer targets 256-bit registers even on AVX-512 hosts (LLVM prefers 256 bits
there), and it cannot be told to keep a register tile of accumulators. These intrinsics are the
`_mm512_*` of this project: explicit `<W x float>` values that LLVM maps onto zmm registers when the
host has AVX-512F and onto pairs of ymm otherwise. W = VEC_BYTES / itemsize, fixed per process
from the host's CPU features (Numba's cache is keyed by CPU, so cached code never crosses hosts).
Vectors hold float32, float64 or int64 (integer lanes wrap around, as NumPy's do).

    lanes_of(arr)              W for arr's dtype, a compile-time constant
    vzeros(arr)                vector of zeros of arr's dtype
    vsplat(x)                  every lane = x
    vbroadcast(arr, i)         every lane = arr.flat[i]
    vload(arr, i, n)           lanes j < n = arr.flat[i + j], others 0 (masked: never reads past n)
    vloadr(arr, i, lo, hi)     lanes lo <= j < hi = arr.flat[i + j], others 0 (i may lie before the
                               array when lo > 0: masked lanes are never read; conv borders)
    vstore(arr, i, v, n)       arr.flat[i + j] = v[j] for j < n (masked; arr writable, of v's dtype)
    vstorer(arr, i, v, lo, hi) arr.flat[i + j] = v[j] for lo <= j < hi (masked, as vloadr)
    vstorei(arr, i, v, n)      arr.flat[i + j] = int64(v[j]) for j < n (float lanes truncated toward 0,
                               as np.int64(x); arr int64: positions carried in float lanes)
    vgather(arr, i, s, n)      lanes j < n = arr.flat[i + j*s], others 0 (a strided column)
    vfma(a, b, c)              a * b + c, one rounding per lane
    vadd(a, b)                 a + b
    vtake(v, m, a, b)          a on the lanes where v > m or v is NaN, b elsewhere (torch's max scan step)
    vwhere(v, m, a, b)         a on the lanes where v > m (false where v or m is NaN), b elsewhere (relu)
    vsum(v)                    sum of the lanes (pairwise tree)
    v8.<any of the above>      the same, with 8 lanes for every dtype (v8.lanes_of(arr) == 8)
Pair vectors (lanes 2j, 2j+1 = one column at k and k+1; see the section at the end):
    vzip(x, y)                 x0 y0 x1 y1 ... (twice the lanes)
    vunzip(x, y, odd)          x0 x2 ... y0 y2 ... (odd 0) or x1 x3 ... y1 y3 ... (odd 1): the even or
                               odd elements of the run x, y (of x's lanes; odd a literal int)
    vbroadcast2(arr, i)        arr.flat[i], arr.flat[i+1] repeated over lanes_of(arr) lanes
    vgather2(arr, i, s, n)     pairs arr.flat[i + j*s:][:2] in lanes 2j, 2j+1 for j < n (float32)
    vpairsum(v)                v[2j] + v[2j+1] (half the lanes)
    vfmask(a, b, c, bits)      a * b + c on the lanes whose bit is set in the integer bits, c elsewhere
vtranspose8(rows)              a tuple of 8 eight-lane vectors (rows of an 8x8 block) -> its 8 columns
Float math (the activations' vector exp): vmul(a, b), vdiv(a, b), vabs(a), vcopysign(a, b) (|a| with b's
sign), vrint(a) (round to nearest even), vexp2i(n) (2^n for integral n in the normal exponent range,
from the bits: -126..127 float32, -1022..1023 float64).
Indices are element offsets into the array's data (arr.flat[i] is the element i places after the
first one in memory), unchecked: callers keep them in bounds.

Where the lane count comes from: the seven intrinsics that make a vector (lanes_of, vzeros, vsplat,
vbroadcast, vload, vloadr, vgather) are built by _makers(width) for a width policy, width(dtype) -> lanes.
The module-level names use the host's policy, lanes(dtype); `v8` uses 8 lanes, for kernels whose
tiles are sized in 8 columns (bmm: ymm for float32, zmm or two ymm for 64-bit). vstore, vstorer, vfma,
vadd, vtake, vwhere and vsum take the width from their vector arguments and are shared by both.
"""
from types import ModuleType

import llvmlite.binding as llb
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

_FEATURES = llb.get_host_cpu_features().flatten().split(",")
VEC_BYTES = 64 if "+avx512f" in _FEATURES else 32
_I32, _I64 = ir.IntType(32), ir.IntType(64)
_DTYPES = (types.float32, types.float64, types.int64)


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
    """Lanes per vector for a NumPy or Numba dtype on this host (the module-level width policy)."""
    bits = dtype.bitwidth if isinstance(dtype, types.Type) else dtype.itemsize * 8
    return VEC_BYTES * 8 // bits


# ---- LLVM helpers: one implementation of each piece, for any lane count and dtype ----------------
def _elem_ptr(context, builder, arrty, arr, idx):  # &arr.flat[idx]
    data = context.make_array(arrty)(context, builder, arr).data
    return builder.gep(data, [idx])


def _splat(builder, vty, x):
    v = builder.insert_element(ir.Constant(vty, ir.Undefined), x, ir.Constant(_I32, 0))
    zeros = ir.Constant(ir.VectorType(_I32, vty.count), [0] * vty.count)
    return builder.shuffle_vector(v, ir.Constant(vty, ir.Undefined), zeros)


def _mask(context, builder, vt, n, nty):
    # <lanes x i1>: lane j < n (n of Numba type nty), as the scalar bits (1 << clamp(n, 0, lanes)) - 1
    # (comparing a lane-index vector with n would be a 512-bit op for 8 x i64, and one zmm
    # instruction slows the FMAs of a ymm kernel on Intel: it takes over port 1's vector unit)
    n, zero, w = context.cast(builder, n, nty, types.int64), ir.Constant(_I64, 0), ir.Constant(_I64, vt.lanes)
    n = builder.select(builder.icmp_signed("<", n, w), n, w)
    n = builder.select(builder.icmp_signed("<", n, zero), zero, n)
    bits = builder.sub(builder.shl(ir.Constant(_I64, 1), n), ir.Constant(_I64, 1))
    if vt.lanes == 64:  # 1 << 64 overflows i64: all lanes (vzip of two 32-lane vectors, winograd4.py)
        bits = builder.select(builder.icmp_signed("==", n, w), ir.Constant(_I64, -1), bits)
    return builder.bitcast(builder.trunc(bits, ir.IntType(vt.lanes)), ir.VectorType(ir.IntType(1), vt.lanes))


def _range_mask(context, builder, vt, lo, hi, loty, hity):
    # <lanes x i1>: lo <= lane j < hi, as mask(hi) and not mask(lo)
    m_hi = _mask(context, builder, vt, hi, hity)
    m_lo = _mask(context, builder, vt, lo, loty)
    return builder.and_(m_hi, builder.not_(m_lo))


def _llvm_call(builder, name, vt, ret, *args):  # LLVM intrinsic `name`, "{}" -> vt's suffix (v8f32)
    kind = "i" if isinstance(vt.dtype, types.Integer) else "f"
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ret, [a.type for a in args]),
                                        name.format(f"v{vt.lanes}{kind}{vt.dtype.bitwidth}"))
    return builder.call(fn, args)


def _align(vt):  # element alignment, as the masked load/store/gather intrinsics take it
    return ir.Constant(_I32, vt.dtype.bitwidth // 8)


# ---- codegen of the vector makers (vt = sig.return_type, the policy's vector type) ---------------
def _broadcast_cg(context, builder, sig, args):
    x = builder.load(_elem_ptr(context, builder, sig.args[0], args[0], args[1]))
    return _splat(builder, context.get_value_type(sig.return_type), x)


def _load_cg(context, builder, sig, args):
    vt, (arrty, _, nty) = sig.return_type, sig.args
    vty = context.get_value_type(vt)
    ptr = _elem_ptr(context, builder, arrty, args[0], args[1])
    mask = _mask(context, builder, vt, args[2], nty)
    return _llvm_call(builder, "llvm.masked.load.{}.p0", vt, vty, ptr, _align(vt), mask,
                      ir.Constant(vty, None))


def _loadr_cg(context, builder, sig, args):
    vt, (arrty, _, loty, hity) = sig.return_type, sig.args
    vty = context.get_value_type(vt)
    ptr = _elem_ptr(context, builder, arrty, args[0], args[1])
    mask = _range_mask(context, builder, vt, args[2], args[3], loty, hity)
    return _llvm_call(builder, "llvm.masked.load.{}.p0", vt, vty, ptr, _align(vt), mask,
                      ir.Constant(vty, None))


def _gather_cg(context, builder, sig, args):
    vt, (arrty, _, sty, nty) = sig.return_type, sig.args
    vty = context.get_value_type(vt)
    base = builder.ptrtoint(_elem_ptr(context, builder, arrty, args[0], args[1]), _I64)
    step = builder.mul(context.cast(builder, args[2], sty, types.int64),
                       ir.Constant(_I64, vt.dtype.bitwidth // 8))
    iota = ir.Constant(ir.VectorType(_I64, vt.lanes), list(range(vt.lanes)))
    addr = builder.add(_splat(builder, iota.type, base), builder.mul(iota, _splat(builder, iota.type, step)))
    ptrs = builder.inttoptr(addr, ir.VectorType(ir.PointerType(), vt.lanes))
    mask = _mask(context, builder, vt, args[3], nty)
    return _llvm_call(builder, f"llvm.masked.gather.{{}}.v{vt.lanes}p0", vt, vty, ptrs, _align(vt), mask,
                      ir.Constant(vty, None))


def _makers(width):
    """lanes_of, vzeros, vsplat, vbroadcast, vload, vloadr, vgather, with vectors of width(dtype) lanes."""
    def vec(dtype):
        if dtype not in _DTYPES:
            raise TypeError(f"simd: vectors hold float32, float64 or int64, got {dtype}")
        return Vec(dtype, width(dtype))

    @intrinsic
    def lanes_of(typingctx, arr):
        w = width(arr.dtype)
        return types.intp(arr), lambda context, builder, sig, args: context.get_constant(types.intp, w)

    @intrinsic
    def vzeros(typingctx, arr):
        vt = vec(arr.dtype)
        return vt(arr), lambda context, builder, sig, args: ir.Constant(context.get_value_type(vt), None)

    @intrinsic
    def vsplat(typingctx, x):
        vt = vec(x)
        return vt(x), lambda context, builder, sig, args: _splat(builder, context.get_value_type(vt), args[0])

    @intrinsic
    def vbroadcast(typingctx, arr, idx):
        return vec(arr.dtype)(arr, idx), _broadcast_cg

    @intrinsic
    def vload(typingctx, arr, idx, n):
        return vec(arr.dtype)(arr, idx, n), _load_cg

    @intrinsic
    def vloadr(typingctx, arr, idx, lo, hi):
        return vec(arr.dtype)(arr, idx, lo, hi), _loadr_cg

    @intrinsic
    def vgather(typingctx, arr, idx, stride, n):
        return vec(arr.dtype)(arr, idx, stride, n), _gather_cg

    return lanes_of, vzeros, vsplat, vbroadcast, vload, vloadr, vgather


# ---- intrinsics on vectors of any width -----------------------------------------------------------
@intrinsic
def vstore(typingctx, arr, idx, v, n):
    if not (isinstance(arr, types.Array) and isinstance(v, Vec) and v.dtype == arr.dtype and arr.mutable):
        return None

    def codegen(context, builder, sig, args):
        ptr = _elem_ptr(context, builder, arr, args[0], args[1])
        mask = _mask(context, builder, v, args[3], n)
        _llvm_call(builder, "llvm.masked.store.{}.p0", v, ir.VoidType(), args[2], ptr, _align(v), mask)
        return context.get_dummy_value()
    return types.none(arr, idx, v, n), codegen


@intrinsic
def vstorer(typingctx, arr, idx, v, lo, hi):
    if not (isinstance(arr, types.Array) and isinstance(v, Vec) and v.dtype == arr.dtype and arr.mutable):
        return None

    def codegen(context, builder, sig, args):
        ptr = _elem_ptr(context, builder, arr, args[0], args[1])
        mask = _range_mask(context, builder, v, args[3], args[4], lo, hi)
        _llvm_call(builder, "llvm.masked.store.{}.p0", v, ir.VoidType(), args[2], ptr, _align(v), mask)
        return context.get_dummy_value()
    return types.none(arr, idx, v, lo, hi), codegen


@intrinsic
def vstorei(typingctx, arr, idx, v, n):
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64 and arr.mutable and isinstance(v, Vec)
            and isinstance(v.dtype, types.Float)):
        return None

    def codegen(context, builder, sig, args):
        it = Vec(types.int64, v.lanes)
        iv = builder.fptosi(args[2], ir.VectorType(_I64, v.lanes))
        ptr = _elem_ptr(context, builder, arr, args[0], args[1])
        mask = _mask(context, builder, it, args[3], n)
        _llvm_call(builder, "llvm.masked.store.{}.p0", it, ir.VoidType(), iv, ptr, _align(it), mask)
        return context.get_dummy_value()
    return types.none(arr, idx, v, n), codegen


@intrinsic
def vfma(typingctx, a, b, c):
    if not (isinstance(a, Vec) and a == b == c):
        return None

    def codegen(context, builder, sig, args):
        if isinstance(a.dtype, types.Integer):
            return builder.add(builder.mul(args[0], args[1]), args[2])
        return _llvm_call(builder, "llvm.fma.{}", a, context.get_value_type(a), *args)
    return a(a, b, c), codegen


def _add(builder, vt, x, y):
    return (builder.add if isinstance(vt.dtype, types.Integer) else builder.fadd)(x, y)


@intrinsic
def vadd(typingctx, a, b):
    if not (isinstance(a, Vec) and a == b):
        return None

    def codegen(context, builder, sig, args):
        return _add(builder, a, args[0], args[1])
    return a(a, b), codegen


def _select(nan_takes_a):
    # the intrinsic (v, m, a, b) -> a on the lanes where v > m (or v is NaN, if nan_takes_a), b elsewhere
    def select(typingctx, v, m, a, b):
        if not (isinstance(v, Vec) and v == m and isinstance(a, Vec) and a == b and a.lanes == v.lanes
                and not isinstance(v.dtype, types.Integer)):
            return None

        def codegen(context, builder, sig, args):
            take = builder.fcmp_ordered(">", args[0], args[1])
            if nan_takes_a:
                take = builder.or_(take, builder.fcmp_unordered("uno", args[0], args[0]))
            return builder.select(take, args[2], args[3])
        return a(v, m, a, b), codegen
    select.__name__ = "vtake" if nan_takes_a else "vwhere"
    return intrinsic(select)


vtake, vwhere = _select(True), _select(False)


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
            x = _add(builder, v, lo, hi)
        return builder.extract_element(x, ir.Constant(_I32, 0))
    return v.dtype(v), codegen


# ---- float math for the activations' vector exp (kernels/activation/cpu.py) ------------------------
def _is_float_vec(*vs):
    return isinstance(vs[0], Vec) and all(v == vs[0] for v in vs) and not isinstance(vs[0].dtype, types.Integer)


def _unary(name, emit):
    # an intrinsic float vector -> the same type, emit(builder, vt, x)
    def op(typingctx, x):
        if not _is_float_vec(x):
            return None
        return x(x), lambda context, builder, sig, args: emit(builder, sig.return_type, *args)
    op.__name__ = name
    return intrinsic(op)


def _binary(name, emit):
    # an intrinsic (x, y) of one float vector type -> that type, emit(builder, vt, x, y)
    def op(typingctx, x, y):
        if not _is_float_vec(x, y):
            return None
        return x(x, y), lambda context, builder, sig, args: emit(builder, sig.return_type, *args)
    op.__name__ = name
    return intrinsic(op)


def _exp2i(builder, vt, n):
    # 2^n for integral lanes n in the normal exponent range: (n + bias) << mantissa bits, as floats
    bits = vt.dtype.bitwidth
    ity = ir.VectorType(ir.IntType(bits), vt.lanes)
    k = builder.add(builder.fptosi(n, ity), ir.Constant(ity, [127 if bits == 32 else 1023] * vt.lanes))
    k = builder.shl(k, ir.Constant(ity, [23 if bits == 32 else 52] * vt.lanes))
    return builder.bitcast(k, n.type)


vmul = _binary("vmul", lambda b, vt, x, y: b.fmul(x, y))
vdiv = _binary("vdiv", lambda b, vt, x, y: b.fdiv(x, y))
vcopysign = _binary("vcopysign", lambda b, vt, x, y: _llvm_call(b, "llvm.copysign.{}", vt, x.type, x, y))
vabs = _unary("vabs", lambda b, vt, x: _llvm_call(b, "llvm.fabs.{}", vt, x.type, x))
vrint = _unary("vrint", lambda b, vt, x: _llvm_call(b, "llvm.rint.{}", vt, x.type, x))
vexp2i = _unary("vexp2i", _exp2i)


# ---- the two lane policies --------------------------------------------------------------------------
lanes_of, vzeros, vsplat, vbroadcast, vload, vloadr, vgather = _makers(lanes)

# v8 is a module object because Numba resolves attributes of modules (v8.vload) in jitted code,
# and of no other plain Python object.
v8 = ModuleType(f"{__name__}.v8", "kernels/simd.py intrinsics on 8-lane vectors, for every dtype")
v8.lanes_of, v8.vzeros, v8.vsplat, v8.vbroadcast, v8.vload, v8.vloadr, v8.vgather = _makers(lambda dtype: 8)
v8.vstore, v8.vstorer, v8.vfma, v8.vadd, v8.vsum, v8.vtake, v8.vwhere = vstore, vstorer, vfma, vadd, vsum, vtake, vwhere


# ---- pair vectors (bmm's k-pair tiles): lanes 2j and 2j+1 hold one column at two values of k -------
# vfmask(vbroadcast2(a, p), vzip(b_k, b_k1), c, -1) adds a[p]*b_k + a[p+1]*b_k1 in each lane pair, and
# vpairsum of the accumulator gives the sums: one FMA for two k steps where 8-lane vectors take two,
# on AVX-512 hosts for float32 (16 lanes = 8 columns x 2).
def _shuffle(builder, x, y, idx):
    return builder.shuffle_vector(x, y, ir.Constant(ir.VectorType(_I32, len(idx)), idx))


@intrinsic
def vzip(typingctx, x, y):
    # x0 y0 x1 y1 ...: twice the lanes of x and y (one vector type)
    if not (isinstance(x, Vec) and x == y):
        return None

    def codegen(context, builder, sig, args):
        w = x.lanes
        return _shuffle(builder, args[0], args[1], [j // 2 + (w if j % 2 else 0) for j in range(2 * w)])
    return Vec(x.dtype, 2 * x.lanes)(x, y), codegen


@intrinsic
def vunzip(typingctx, x, y, odd):
    # the elements 2j + odd of the concatenation x, y (x's lanes; Winograd's column-parity split)
    if not (isinstance(x, Vec) and x == y and isinstance(odd, types.IntegerLiteral)):
        return None

    def codegen(context, builder, sig, args):
        return _shuffle(builder, args[0], args[1], [2 * j + odd.literal_value for j in range(x.lanes)])
    return x(x, y, odd), codegen


def _broadcast2_cg(context, builder, sig, args):
    arrty, vty = sig.args[0], context.get_value_type(sig.return_type)
    ptr = builder.bitcast(_elem_ptr(context, builder, arrty, args[0], args[1]),
                          ir.PointerType(ir.VectorType(vty.element, 2)))
    pair = builder.load(ptr, align=arrty.dtype.bitwidth // 8)
    return _shuffle(builder, pair, pair, [j % 2 for j in range(vty.count)])


@intrinsic
def vbroadcast2(typingctx, arr, idx):
    # lanes_of(arr) lanes: arr.flat[i], arr.flat[i+1] repeated (one 64-bit broadcast for float32)
    if not (isinstance(arr, types.Array) and arr.dtype in _DTYPES):
        return None
    return Vec(arr.dtype, lanes(arr.dtype))(arr, idx), _broadcast2_cg


@intrinsic
def vpairsum(typingctx, v):
    # half the lanes: v[2j] + v[2j+1] (vpairsum(vzip(x, y)) == x + y)
    if not (isinstance(v, Vec) and v.lanes % 2 == 0):
        return None

    def codegen(context, builder, sig, args):
        w, x = v.lanes // 2, args[0]
        if v.dtype.bitwidth == 64:
            even = _shuffle(builder, x, x, [2 * j for j in range(w)])
            odd = _shuffle(builder, x, x, [2 * j + 1 for j in range(w)])
            return _add(builder, v, even, odd)
        # 32-bit lanes: view each pair as one i64, shift the odd lane down onto the even one, add, and
        # truncate the i64s back to their low halves (vpsrlq, vaddps, vpmovqd: one shuffle, where
        # LLVM turns the even/odd shuffles into three)
        q = ir.VectorType(_I64, w)
        odd = builder.bitcast(builder.lshr(builder.bitcast(x, q), ir.Constant(q, [32] * w)), x.type)
        low = builder.trunc(builder.bitcast(_add(builder, v, x, odd), q), ir.VectorType(_I32, w))
        return builder.bitcast(low, ir.VectorType(x.type.element, w))
    return Vec(v.dtype, v.lanes // 2)(v), codegen


@intrinsic
def vfmask(typingctx, a, b, c, bits):
    # a * b + c on the lanes j whose bit j of the integer `bits` is set; c elsewhere (a masked vfma)
    if not (isinstance(a, Vec) and a == b == c and isinstance(bits, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        m = context.cast(builder, args[3], bits, types.int64)
        m = builder.bitcast(builder.trunc(m, ir.IntType(a.lanes)), ir.VectorType(ir.IntType(1), a.lanes))
        if isinstance(a.dtype, types.Integer):
            fma = builder.add(builder.mul(args[0], args[1]), args[2])
        else:
            fma = _llvm_call(builder, "llvm.fma.{}", a, context.get_value_type(a), *args[:3])
        return builder.select(m, fma, args[2])
    return a(a, b, c, bits), codegen


def _gather2_cg(context, builder, sig, args):
    vt, (arrty, _, sty, nty) = sig.return_type, sig.args
    pairs = Vec(types.int64, vt.lanes // 2)  # one 64-bit lane per pair of float32
    base = builder.ptrtoint(_elem_ptr(context, builder, arrty, args[0], args[1]), _I64)
    step = builder.mul(context.cast(builder, args[2], sty, types.int64), ir.Constant(_I64, 4))
    iota = ir.Constant(ir.VectorType(_I64, pairs.lanes), list(range(pairs.lanes)))
    addr = builder.add(_splat(builder, iota.type, base), builder.mul(iota, _splat(builder, iota.type, step)))
    ptrs = builder.inttoptr(addr, ir.VectorType(ir.PointerType(), pairs.lanes))
    pty = context.get_value_type(pairs)
    got = _llvm_call(builder, f"llvm.masked.gather.{{}}.v{pairs.lanes}p0", pairs, pty, ptrs, _align(vt),
                     _mask(context, builder, pairs, args[3], nty), ir.Constant(pty, None))
    return builder.bitcast(got, context.get_value_type(vt))


@intrinsic
def vgather2(typingctx, arr, idx, stride, n):
    # lanes_of(arr) lanes: lanes 2j, 2j+1 = arr.flat[i + j*s], arr.flat[i + j*s + 1] for j < n, others 0:
    # vzip of two vgathers one element apart, as one gather of 64-bit pairs (float32 only)
    if not (isinstance(arr, types.Array) and arr.dtype == types.float32):
        return None
    return Vec(arr.dtype, lanes(arr.dtype))(arr, idx, stride, n), _gather2_cg


# ---- 8x8 transpose (GEMM's A packing for nn: 8 rows of A in, 8 k-columns out) ---------------------
_T8 = (([0, 8, 1, 9, 4, 12, 5, 13], [2, 10, 3, 11, 6, 14, 7, 15]),      # 32-bit pairs within 128 bits
       ([0, 1, 8, 9, 4, 5, 12, 13], [2, 3, 10, 11, 6, 7, 14, 15]),      # 64-bit pairs within 128 bits
       ([0, 1, 2, 3, 8, 9, 10, 11], [4, 5, 6, 7, 12, 13, 14, 15]))      # 128-bit halves


@intrinsic
def vtranspose8(typingctx, rows):
    # rows: a tuple of 8 vectors of 8 lanes (an 8x8 block, row i = rows[i]) -> its 8 columns, as a
    # tuple (column j = lane j of every row): 24 shuffles, the unpack/shuffle/permute transpose
    if not (isinstance(rows, types.UniTuple) and rows.count == 8 and isinstance(rows.dtype, Vec)
            and rows.dtype.lanes == 8):
        return None

    def codegen(context, builder, sig, args):
        r = [builder.extract_value(args[0], i) for i in range(8)]
        (a_lo, a_hi), (b_lo, b_hi), (c_lo, c_hi) = _T8
        t = [_shuffle(builder, r[2 * k], r[2 * k + 1], idx) for k in range(4) for idx in (a_lo, a_hi)]
        u = [_shuffle(builder, t[x], t[y], idx) for x, y in ((0, 2), (1, 3), (4, 6), (5, 7))
             for idx in (b_lo, b_hi)]
        cols = [_shuffle(builder, u[j], u[j + 4], c_lo) for j in range(4)] + \
               [_shuffle(builder, u[j], u[j + 4], c_hi) for j in range(4)]
        return context.make_tuple(builder, sig.return_type, cols)
    return rows(rows), codegen

"""Batched GEMM on the CPU (Numba) for many small matrices: register tiles of explicit SIMD vectors,
tuned for tiny M, N, K (where BLAS call overhead dominates np.matmul). float32, float64, int64.

    bmm(out, a, b)     # out (B,M,N) = a (B,M,K) @ b (B,K,N)
    bmm_nt(out, a, b)  # out (B,M,N) = a (B,M,K) @ b (B,N,K).T
    bmm_tn(out, a, b)  # out (B,M,N) = a (B,K,M).T @ b (B,K,N)
All three run one tile loop (_mm) over element strides: a tile is R <= 6 rows x 8 columns of
two batch entries, held in 2R 8-lane vectors while k runs (per k and entry: one masked load of
b's row k, R broadcast-FMAs of a), so 2R FMA chains are independent and a lane mask covers any N
(no scalar tail, nothing read or written outside the arrays). bmm_nt gathers b's strided columns;
bmm_tn reads a with its strides swapped. R is a compile-time constant (see _ROWS). Plain Numba
loops cannot do this: LLVM's loop vectorizer wants long inner loops and Numba turns its SLP
vectorizer off, so scalar loops ran one latency-bound FMA chain at a time (~75 us for
(256,5,6)@(256,6,7), now ~3.5 us; np.matmul ~14 us).
Serial: at these sizes a whole batch of 256 takes a few microseconds, less than a parallel launch.
"""
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import NumbaError
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic, models, register_model

from .._numba import jit

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64))
_W = 8  # lanes per vector for every dtype: ymm for float32, zmm (or two ymm) for 64-bit
_I32, _I64 = ir.IntType(32), ir.IntType(64)


# ---- 8-lane vectors: a Numba type and five intrinsics -------------------------------------------
# arr.flat[i] below is the element i places after arr's first one in memory (the flat index for a
# C-contiguous arr). Offsets are unchecked: the kernels keep them inside the arrays.
class _Vec(types.Type):
    def __init__(self, dtype):
        self.dtype = dtype
        super().__init__(name=f"bmm.Vec({dtype}x{_W})")


@register_model(_Vec)
class _VecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, ir.VectorType(dmm.lookup(fe_type.dtype).get_value_type(), _W))


def _vec_of(arr, layouts="C"):  # the vector type for an array of a supported dtype and layout, else None
    ok = isinstance(arr, types.Array) and arr.layout in layouts
    return _Vec(arr.dtype) if ok and arr.dtype in (types.float32, types.float64, types.int64) else None


def _ptr(ctx, bld, arrty, arr, i):  # &arr.flat[i]
    return bld.gep(ctx.make_array(arrty)(ctx, bld, arr).data, [i])


def _splat(bld, x):
    v = bld.insert_element(ir.Constant(ir.VectorType(x.type, _W), ir.Undefined), x, _I32(0))
    return bld.shuffle_vector(v, v, ir.Constant(ir.VectorType(_I32, _W), [0] * _W))


def _mask(bld, n):  # <8 x i1> with lane j set for j < n: the bits (1 << min(n, 8)) - 1
    n = bld.select(bld.icmp_signed("<", n, _I64(_W)), n, _I64(_W))
    bits = bld.trunc(bld.sub(bld.shl(_I64(1), n), _I64(1)), ir.IntType(_W))
    return bld.bitcast(bits, ir.VectorType(ir.IntType(1), _W))


def _llvm(bld, name, vty, ret, *args):  # call LLVM's intrinsic `name` overloaded on vector type vty
    el = vty.element
    sfx = f"v{_W}{'i' if isinstance(el, ir.IntType) else 'f'}{32 if el == ir.FloatType() else 64}"
    fnty = ir.FunctionType(ret, [x.type for x in args])
    return bld.call(cgutils.get_or_insert_function(bld.module, fnty, name.format(sfx)), args)


def _align(vty):  # element alignment, as the masked load/store/gather intrinsics take it
    return _I32(4 if vty.element == ir.FloatType() else 8)


@intrinsic
def _vzero(typingctx, arr):
    # vector of zeros of arr's dtype
    vt = _vec_of(arr)

    def codegen(ctx, bld, sig, args):
        return ir.Constant(ctx.get_value_type(vt), None)
    return None if vt is None else (vt(arr), codegen)


@intrinsic
def _vload(typingctx, arr, i, step, n):
    # lane j = arr.flat[i + j*step] for j < min(n, 8), other lanes 0; reads nothing else. A
    # C-contiguous arr is read with one masked load (step must be 1), any other with a masked gather.
    vt = _vec_of(arr, "CFA")

    def codegen(ctx, bld, sig, args):
        vty, (_, i, step, n) = ctx.get_value_type(vt), args
        p, mask, zero = _ptr(ctx, bld, arr, args[0], i), _mask(bld, n), ir.Constant(vty, None)
        if arr.layout == "C":
            return _llvm(bld, "llvm.masked.load.{}.p0", vty, vty, p, _align(vty), mask, zero)
        lanes = ir.Constant(ir.VectorType(_I64, _W), list(range(_W)))
        offs = bld.mul(lanes, _splat(bld, bld.mul(step, _I64(ctx.get_abi_sizeof(vty.element)))))
        ptrs = bld.inttoptr(bld.add(_splat(bld, bld.ptrtoint(p, _I64)), offs), ir.VectorType(p.type, _W))
        return _llvm(bld, "llvm.masked.gather.{}.v8p0", vty, vty, ptrs, _align(vty), mask, zero)
    return None if vt is None else (vt(arr, types.intp, types.intp, types.intp), codegen)


@intrinsic
def _strided(typingctx, arr):
    # arr itself, typed as not contiguous (layout "A"), so that _vload gathers from it
    def codegen(ctx, bld, sig, args):
        return impl_ret_borrowed(ctx, bld, sig.return_type, args[0])
    return (arr.copy(layout="A")(arr), codegen) if isinstance(arr, types.Array) else None


@intrinsic
def _vstore(typingctx, arr, i, v, n):
    # arr.flat[i + j] = v[j] for j < min(n, 8); writes nothing else
    def codegen(ctx, bld, sig, args):
        v, p, mask = args[2], _ptr(ctx, bld, arr, args[0], args[1]), _mask(bld, args[3])
        _llvm(bld, "llvm.masked.store.{}.p0", v.type, ir.VoidType(), v, p, _align(v.type), mask)
        return ctx.get_dummy_value()
    ok = _vec_of(arr) == v and arr.mutable
    return (types.none(arr, types.intp, v, types.intp), codegen) if ok else None


@intrinsic
def _vfma(typingctx, c, arr, i, v):
    # c + arr.flat[i] * v (broadcast); floats fuse to one FMA where the CPU has it (llvm.fmuladd)
    def codegen(ctx, bld, sig, args):
        c, x, v = args[0], _splat(bld, bld.load(_ptr(ctx, bld, arr, args[1], args[2]))), args[3]
        if isinstance(c.type.element, ir.IntType):
            return bld.add(c, bld.mul(x, v))
        return _llvm(bld, "llvm.fmuladd.{}", c.type, c.type, x, v, c)
    return (c(c, arr, types.intp, v), codegen) if _vec_of(arr) == v == c else None


# ---- kernels ------------------------------------------------------------------------------------
@jit
def _fmas(c, a, p, si, v, R):
    # c[t] + a.flat[p + t*si] * v for t < R; the six vectors c[R:] pass through
    return (_vfma(c[0], a, p, v),
            _vfma(c[1], a, p + si, v) if R > 1 else c[1],
            _vfma(c[2], a, p + 2 * si, v) if R > 2 else c[2],
            _vfma(c[3], a, p + 3 * si, v) if R > 3 else c[3],
            _vfma(c[4], a, p + 4 * si, v) if R > 4 else c[4],
            _vfma(c[5], a, p + 5 * si, v) if R > 5 else c[5])


@jit
def _stores(out, q, N, c, nl, R):
    # out.flat[q + t*N:][:nl] = c[t] for t < R
    for t in range(R):
        _vstore(out, q + t * N, c[t], nl)


@jit
def _mm(out, a, sa, b, sb, K, rows):
    # out (B,M,N) = a (B,M,K) @ b (B,K,N); a[n,i,k] = a.flat[n*sa[0] + i*sa[1] + k*sa[2]] and
    # b[n,k,j] = b.flat[n*sb[0] + k*sb[1] + j*sb[2]]. A tile: R = rows.ndim rows (the last group
    # ends at row M, redoing rows when R does not divide M) x 8 columns x two batch entries (an odd
    # last one is done twice), held in 2R vectors: 2R independent FMA chains.
    # (rows.ndim is typed as a literal; R + 0 is a plain int, so the helpers compile once per dtype,
    # not per R: LLVM inlines them into each _mm and folds R there)
    (B, M, N), R = out.shape, rows.ndim + 0
    for g in range(0, M, R):
        i0 = min(g, M - R)
        for n in range(0, B, 2):
            m = min(n + 1, B - 1)
            for j0 in range(0, N, _W):
                z, nl = _vzero(out), N - j0
                c = d = (z, z, z, z, z, z)
                for k in range(K):
                    p, q = n * sb[0] + k * sb[1] + j0 * sb[2], m * sb[0] + k * sb[1] + j0 * sb[2]
                    c = _fmas(c, a, n * sa[0] + i0 * sa[1] + k * sa[2], sa[1], _vload(b, p, sb[2], nl), R)
                    d = _fmas(d, a, m * sa[0] + i0 * sa[1] + k * sa[2], sa[1], _vload(b, q, sb[2], nl), R)
                _stores(out, (n * M + i0) * N + j0, N, c, nl, R)
                _stores(out, (m * M + i0) * N + j0, N, d, nl, R)


@jit
def _bmm_nn(out, a, b, rows):
    # out (B,M,N) = a (B,M,K) @ b (B,K,N); False (nothing written) if the shapes do not fit or b is
    # not C-contiguous (a strided b would be gathered, but the API takes C-contiguous arrays only)
    (B, M, K), s = a.shape, a.itemsize
    if (b.shape[:2] != (B, K) or out.shape != (B, M, b.shape[2]) or 0 < M < rows.ndim
            or not b.flags.c_contiguous):
        return False
    _mm(out, a, (a.strides[0] // s, a.strides[1] // s, a.strides[2] // s),
        b, (b.strides[0] // s, b.strides[1] // s, b.strides[2] // s), K, rows)
    return True


@jit
def _bmm_nt(out, a, b, rows):
    # out (B,M,N) = a (B,M,K) @ b (B,N,K).T; b's k and j strides swapped, its columns gathered
    (B, M, K), s = a.shape, a.itemsize
    if (b.shape[0] != B or b.shape[2] != K or out.shape != (B, M, b.shape[1]) or 0 < M < rows.ndim
            or not b.flags.c_contiguous):
        return False
    _mm(out, a, (a.strides[0] // s, a.strides[1] // s, a.strides[2] // s),
        _strided(b), (b.strides[0] // s, b.strides[2] // s, b.strides[1] // s), K, rows)
    return True


@jit
def _bmm_tn(out, a, b, rows):
    # out (B,M,N) = a (B,K,M).T @ b (B,K,N); a's k and i strides swapped
    (B, K, M), s = a.shape, a.itemsize
    if (b.shape[:2] != (B, K) or out.shape != (B, M, b.shape[2]) or 0 < M < rows.ndim
            or not b.flags.c_contiguous):
        return False
    _mm(out, a, (a.strides[0] // s, a.strides[2] // s, a.strides[1] // s),
        b, (b.strides[0] // s, b.strides[1] // s, b.strides[2] // s), K, rows)
    return True


# Tile heights reach Numba as types: _ROWS[R] is an empty array with R dimensions, so each kernel
# is compiled once per R, on first use (an int would be a run-time value, and literal ints from
# Python take Numba's slow dispatch path). _ROWS_FOR[M]: R = M for M <= 6; larger M is cut into
# groups of at most 6 rows, as even as possible (M = 7: rows 0-3 and 3-6); M >= 64 uses R = 6.
_ROWS = [np.empty((0,) * r, np.int8) for r in range(7)]
_ROWS_FOR = [_ROWS[-(-M // -(-M // 6)) if M else 1] for M in range(64)]


def _check(name, out, a, b):
    # the clear error for arguments the kernels do not take (they return False or fail to type)
    for x in (out, a, b):
        if not isinstance(x, np.ndarray) or x.ndim != 3:
            raise ValueError(f"{name}: expected 3-D arrays, got shapes "
                             f"{[getattr(y, 'shape', type(y)) for y in (out, a, b)]}")
        if not x.flags.c_contiguous:
            raise ValueError(f"{name}: arrays must be C-contiguous (strides {x.strides})")
    if not (out.dtype == a.dtype == b.dtype) or out.dtype not in _DTYPES:
        raise TypeError(f"{name}: expected out, a, b of one dtype among float32, float64 and int64, "
                        f"got {out.dtype}, {a.dtype}, {b.dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{name}: out is read-only")
    (Ba, M, K), (Bb, K2, N) = a.shape, b.shape
    if name == "bmm_tn":
        M, K = K, M
    if name == "bmm_nt":
        K2, N = N, K2
    if Ba != Bb or K != K2:
        raise ValueError(f"{name}: batch shapes cannot be multiplied ({Ba}x{M}x{K} and {Bb}x{K2}x{N})")
    if out.shape != (Ba, M, N):
        raise ValueError(f"{name}: out has shape {out.shape}, expected {(Ba, M, N)}")


# The entry points call the kernel first and check only when it fails: the kernels check shapes
# (return False) and Numba rejects other dtypes, layouts and ranks while typing, so a good call
# pays no Python-side checks (~2 us, as much as the whole batch of 256 products). The clear error
# is raised outside the except block, so no Numba typing message rides along with it.
_BAD_ARGS = (AttributeError, IndexError, TypeError, NumbaError)


def _run(name, kernel, out, a, b, m_axis):
    try:
        M = a.shape[m_axis]
        ok = kernel(out, a, b, _ROWS_FOR[M] if M < 64 else _ROWS[6])
    except _BAD_ARGS:
        ok = False
    if not ok:
        _check(name, out, a, b)
        raise RuntimeError(f"{name}: the kernel refused valid arguments")


def bmm(out, a, b):
    # out (B,M,N) = a (B,M,K) @ b (B,K,N)
    _run("bmm", _bmm_nn, out, a, b, 1)


def bmm_nt(out, a, b):
    # out (B,M,N) = a (B,M,K) @ b (B,N,K).T
    _run("bmm_nt", _bmm_nt, out, a, b, 1)


def bmm_tn(out, a, b):
    # out (B,M,N) = a (B,K,M).T @ b (B,K,N)
    _run("bmm_tn", _bmm_tn, out, a, b, 2)

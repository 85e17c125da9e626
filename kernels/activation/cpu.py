"""Activations on the CPU (Numba): one forward and one backward function per activation (relu_forward_,
relu_backward_, sigmoid_*, tanh_*: flat elementwise loops on SIMD vectors) are the one CPU definition of
each activation and its derivative; act_forward_ / act_backward_ pick one by activation code (codes.py)
for the fused MLP and CNN steps, and the eager kernels (relu(out, x), relu_backward(dx, dout, out), ...
on any ndim via ravelled views) call their own, so an eager model compiles only the activations it uses.
Backward kernels take the forward's saved output. Sigmoid and tanh go through one vector exp/expm1 of
-|x| (_exp_parts): no overflow at |x| ~ 1e4, no cancellation near 0; relu is a vector select.
"""
import math

from .._checks import check_like
from .._numba import jit, jit_inline
from ..simd import (lanes_of, vabs, vadd, vcopysign, vdiv, vexp2i, vfma, vload, vmul, vrint, vsplat, vstore, vwhere,
                    vzeros)
from .codes import ACT_RELU, ACT_SIGMOID, ACT_TANH


def _check(name, *arrays):
    """Same shape, same float dtype, C-contiguous; returns flat views (the kernels are elementwise)."""
    check_like(name, *arrays)
    return [a.reshape(-1) for a in arrays]


# ---- sigmoid and tanh on vectors: exp and expm1 of y <= 0 from one range reduction --------------
INV_FACTORIAL = tuple(1.0 / math.factorial(j) for j in range(15))   # 1/j!, the Taylor coefficients of exp


@jit_inline
def _exp_lo(x):
    # log of the smallest normal of x's dtype, rounded toward 0: exp below it is subnormal (callers give 0)
    return x.dtype.type(-87.3365 if x.itemsize == 4 else -708.3964)


@jit_inline
def _exp_parts(y, x):
    # y <= 0 lanes of x's dtype -> (s, q): exp(y) = s + s*q, expm1(y) = (s - 1) + s*q, s = 2^n, n = rint(y / ln 2),
    # q = expm1(r) of r = y - n ln 2 in [-ln2/2, ln2/2] by its Taylor series (to r^8/8! in float32, r^14/14!
    # in float64: under 2^-26 / 2^-56 of q there); y is taken at _exp_lo(x) when below it; a NaN y gives
    # a NaN q (n set to 0 first: 2^NaN has no bits)
    f, z = x.dtype.type, vzeros(x)
    lo = vsplat(_exp_lo(x))
    y = vwhere(lo, y, lo, y)                                   # max(y, lo), NaN kept
    n = vrint(vmul(y, vsplat(f(1.4426950408889634))))
    n = vwhere(n, vsplat(f(-2000.0)), n, z)                    # NaN -> 0
    r = vfma(n, vsplat(f(-0.6931471805599453)), y)             # - n ln 2: - n hi (ln 2 rounded to the
    # dtype), then - n lo (lo = ln 2 - hi: -1.9e-9 float32, 2.3e-17 float64)
    r = vfma(n, vsplat(f(-2.3190468138462996e-17 if x.itemsize == 8 else 1.9046542999577372e-09)), r)
    c = INV_FACTORIAL                                          # p = 1/1! + r/2! + ... + r^(k-1)/k!, Horner
    if x.itemsize == 8:                                        # (written out: constants fold, no loop)
        p = vfma(vfma(vsplat(f(c[14])), r, vsplat(f(c[13]))), r, vsplat(f(c[12])))
        p = vfma(vfma(vfma(p, r, vsplat(f(c[11]))), r, vsplat(f(c[10]))), r, vsplat(f(c[9])))
        p = vfma(p, r, vsplat(f(c[8])))
    else:
        p = vsplat(f(c[8]))
    p = vfma(vfma(vfma(p, r, vsplat(f(c[7]))), r, vsplat(f(c[6]))), r, vsplat(f(c[5])))
    p = vfma(vfma(vfma(vfma(p, r, vsplat(f(c[4]))), r, vsplat(f(c[3]))), r, vsplat(f(c[2]))), r, vsplat(f(c[1])))
    return vexp2i(n), vmul(p, r)


@jit_inline
def _sigmoid(v, x):
    # 1 / (1 + exp(-v)) of x's dtype, through e = exp(-|v|): 1 / (1 + e) for v >= 0, e / (1 + e) below
    # (no overflow; e = 0 where -|v| < _exp_lo(x)); NaN propagates
    z, one = vzeros(x), vsplat(x.dtype.type(1))
    y = vfma(vabs(v), vsplat(x.dtype.type(-1)), z)
    s, q = _exp_parts(y, x)
    e = vwhere(vsplat(_exp_lo(x)), y, z, vfma(s, q, s))
    d = vdiv(one, vadd(one, e))
    return vwhere(z, v, vmul(e, d), d)


@jit_inline
def _tanh(v, x):
    # tanh(v) of x's dtype: -expm1(-2|v|) / (2 + expm1(-2|v|)) with v's sign (no cancellation near 0:
    # expm1 is computed as such; 1 at large |v|, where the clamped expm1 is -1); NaN propagates
    z = vzeros(x)
    m1 = vsplat(x.dtype.type(-1))
    s, q = _exp_parts(vfma(vabs(v), vsplat(x.dtype.type(-2)), z), x)
    em1 = vfma(s, q, vadd(s, m1))
    return vcopysign(vdiv(vfma(em1, m1, z), vadd(vsplat(x.dtype.type(2)), em1)), v)


# ---- one function per activation and direction (x + b: b the fused MLP's bias, 0 elsewhere; b == 0 adds
# nothing, so -0.0 stays -0.0 as in torch's relu and tanh); flat C-contiguous arrays, out may be x and dx
# may be dout (in place: explicit vectors, where LLVM's own loops fell back to scalar code); constants
# of the array's dtype (an int literal would promote float32 lanes to float64). sigmoid and tanh forward are
# compiled once (jit), not inlined into every fused caller: their vector exp made the fused steps' compile
# longer, and a call per row costs nothing beside ~0.4 ns per element
@jit_inline
def _input(x, i, n, b):
    # lanes i..i+n of x, plus b unless b == 0
    return vload(x, i, n) if b == x.dtype.type(0) else vadd(vload(x, i, n), vsplat(b))


@jit_inline
def relu_forward_(out, x, b):
    # out (n,) = max(x + b, 0), NaN propagating (0 where v < 0, else v)
    L, z = lanes_of(out), vzeros(out)
    for i in range(0, x.size, L):
        n = min(L, x.size - i)
        v = _input(x, i, n, b)
        vstore(out, i, vwhere(z, v, z, v), n)


@jit
def sigmoid_forward_(out, x, b):
    # out (n,) = 1 / (1 + exp(-(x + b)))
    L = lanes_of(out)
    for i in range(0, x.size, L):
        n = min(L, x.size - i)
        vstore(out, i, _sigmoid(_input(x, i, n, b), x), n)


@jit
def tanh_forward_(out, x, b):
    # out (n,) = tanh(x + b)
    L = lanes_of(out)
    for i in range(0, x.size, L):
        n = min(L, x.size - i)
        vstore(out, i, _tanh(_input(x, i, n, b), x), n)


@jit_inline
def relu_backward_(dx, dout, h):
    # dx (n,) = dout where h > 0 else 0, h = relu's output (a select: inf and NaN gradients do not leak
    # through zeros)
    L, z = lanes_of(dx), vzeros(dx)
    for i in range(0, dx.size, L):
        n = min(L, dx.size - i)
        vstore(dx, i, vwhere(vload(h, i, n), z, vload(dout, i, n), z), n)


@jit_inline
def sigmoid_backward_(dx, dout, h):
    # dx (n,) = dout * h(1-h), h = sigmoid's output
    L, o = lanes_of(dx), vsplat(dx.dtype.type(1))
    for i in range(0, dx.size, L):
        n = min(L, dx.size - i)
        hv = vload(h, i, n)
        vstore(dx, i, vmul(vload(dout, i, n), vmul(hv, vfma(hv, vsplat(dx.dtype.type(-1)), o))), n)


@jit_inline
def tanh_backward_(dx, dout, h):
    # dx (n,) = dout * (1 - h^2) (one rounding: an FMA), h = tanh's output
    L, o = lanes_of(dx), vsplat(dx.dtype.type(1))
    for i in range(0, dx.size, L):
        n = min(L, dx.size - i)
        hv = vload(h, i, n)
        vstore(dx, i, vmul(vload(dout, i, n), vfma(hv, vmul(hv, vsplat(dx.dtype.type(-1))), o)), n)


@jit_inline
def act_forward_(out, x, b, code):
    # out (n,) = act(x + b) for an activation code (codes.py), one pass: the fused MLP and CNN steps'
    # entry (a runtime code); the eager kernels below call the activation's own function
    b = x.dtype.type(b)
    if code == ACT_RELU:
        relu_forward_(out, x, b)
    elif code == ACT_SIGMOID:
        sigmoid_forward_(out, x, b)
    elif code == ACT_TANH:
        tanh_forward_(out, x, b)
    else:
        for i in range(x.size):
            out[i] = x[i] + b if b != x.dtype.type(0) else x[i]


@jit_inline
def act_backward_(dx, dout, h, code):
    # dx (n,) = dout * act'(x) from the activation's output h = act(x) (n,), as act_forward_; none: dout
    if code == ACT_RELU:
        relu_backward_(dx, dout, h)
    elif code == ACT_SIGMOID:
        sigmoid_backward_(dx, dout, h)
    elif code == ACT_TANH:
        tanh_backward_(dx, dout, h)
    else:
        for i in range(dx.size):
            dx[i] = dout[i]


def relu(out, x):
    # out (...) = max(x, 0)
    o, xf = _check("relu", out, x)
    relu_forward_(o, xf, o.dtype.type(0))


def relu_backward(dx, dout, out):
    # dx (...) = dout * (out > 0)
    relu_backward_(*_check("relu_backward", dx, dout, out))


def sigmoid(out, x):
    # out (...) = 1 / (1 + exp(-x))
    o, xf = _check("sigmoid", out, x)
    sigmoid_forward_(o, xf, o.dtype.type(0))


def sigmoid_backward(dx, dout, out):
    # dx (...) = dout * out * (1 - out)
    sigmoid_backward_(*_check("sigmoid_backward", dx, dout, out))


def tanh(out, x):
    # out (...) = tanh(x)
    o, xf = _check("tanh", out, x)
    tanh_forward_(o, xf, o.dtype.type(0))


def tanh_backward(dx, dout, out):
    # dx (...) = dout * (1 - out^2)
    tanh_backward_(*_check("tanh_backward", dx, dout, out))


"""Reduction NumPy references (outputs first), floats summed in float64; plain array methods only, so
they run on any array module (the CUDA backend runs sum_rows on CuPy for non-float32 dtypes)."""
import numpy as np


def _acc(x):
    return x.astype(np.float64) if x.dtype.kind == "f" else x


def sum_rows(out, x, accumulate=False):
    # out (N,) (+)= x (M,N).sum(axis=0)
    s = _acc(x).sum(axis=0)
    if accumulate:
        s = s + out
    out[...] = s


def sum_all(out, x):
    # out (1,) = x (...).sum()
    out[0] = _acc(x).sum()


def max_rows(out, x):
    # out (M,) = x (M,N).max(axis=1), N >= 1
    out[...] = x.max(axis=1)


def argmax_rows(idx, x):
    # idx (M,) int64 = x (M,N).argmax(axis=1) (first maximum; first NaN wins, as NumPy), N >= 1
    idx[...] = x.argmax(axis=1)


# ---- along a dim, over C-contiguous (A, N, B) views reducing axis 1 (the backends' *_lines entries) ----
def sum_lines(out, x, xp=np):
    # out (A,B) = x (A,N,B).sum(axis=1), floats accumulated in float64
    out[...] = _acc(x).sum(axis=1)


def prod_lines(out, x, xp=np):
    # out (A,B) = x (A,N,B).prod(axis=1), floats accumulated in float64
    out[...] = _acc(x).prod(axis=1)


def extreme_lines(values, indices, x, minimum, xp=np):
    # values (A,B), indices (A,B) int64 = max (minimum: min) of x (A,N,B) along axis 1 and its index, N >= 1:
    # the first extreme on ties; a NaN is the extreme (the first NaN), as torch (and NumPy's argmax) do
    idx = (xp.argmin if minimum else xp.argmax)(x, axis=1)
    indices[...] = idx
    values[...] = xp.take_along_axis(x, idx[:, None, :], axis=1)[:, 0, :]

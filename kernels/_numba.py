"""Numba settings shared by every CPU kernel: one place decides caching and fast-math."""
import numba

# cache=True: compiled machine code is kept in __pycache__ so only the first run pays for LLVM.
# fastmath stays off by default: reductions must match the NumPy reference bit-for-bit-ish.
jit = numba.njit(cache=True, nogil=True)  # decorator: @jit
pjit = numba.njit(cache=True, nogil=True, parallel=True)  # decorator: @pjit (uses prange)


def jit_fast(fn):
    """@jit with fastmath contractions (FMA, reassociation) for inner GEMM loops."""
    return numba.njit(cache=True, nogil=True, fastmath=True)(fn)


def pjit_fast(fn):
    """@pjit with fastmath, for parallel GEMM drivers."""
    return numba.njit(cache=True, nogil=True, parallel=True, fastmath=True)(fn)


def jit_reassoc(fn):
    """@jit allowing only reassociation (no nnan/ninf/contract): float reductions vectorize, in any order."""
    return numba.njit(cache=True, nogil=True, fastmath={"reassoc"})(fn)

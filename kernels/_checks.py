"""Argument checks shared by the CPU kernels' Python entry points (clear errors before Numba runs)."""
import numpy as np
from numba.core.errors import NumbaError

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

# Entry points on hot paths (gemm, bmm) call the jitted kernel first and check only when it refuses:
# the kernel checks shapes and layouts (returns False) and Numba rejects other ranks, mixed dtypes and
# read-only outputs while typing (one of these exceptions), so a good call pays no Python-side checks
# (~1-2 us, as much as a small product). The caller then raises the clear error outside its except
# block, so no Numba typing message rides along with it.
KERNEL_REFUSALS = (AttributeError, IndexError, TypeError, NumbaError)


def check_like(name, *arrays, ndim=None):
    """All arrays NumPy, of one shape and one float dtype, C-contiguous (and `ndim`-D when given)."""
    a0 = arrays[0]
    for a in arrays:
        if (not isinstance(a, np.ndarray) or a.shape != a0.shape or a.dtype != a0.dtype
                or (ndim is not None and a.ndim != ndim)):
            dims = f"{ndim}-D " if ndim is not None else ""
            raise ValueError(f"{name}: expected {dims}arrays of one shape and dtype, got "
                             f"{[(getattr(x, 'shape', None), str(getattr(x, 'dtype', type(x)))) for x in arrays]}")
        if not a.flags.c_contiguous:
            raise ValueError(f"{name}: arrays must be C-contiguous (strides {a.strides})")
    if a0.dtype not in FLOATS:
        raise TypeError(f"{name}: expected float32 or float64, got {a0.dtype}")

"""Call a backend primitive on host arrays: inputs go to the device (optionally as non-contiguous views),
outputs come back as NumPy arrays. For the per-family primitive tests in tests/kernels/."""
import contextlib

import numpy as np
from hypothesis import HealthCheck, settings

from fastnn.backends import get_backend



def fixture_settings(**kw):
    """hypothesis settings for tests taking the function-scoped `backend` fixture (a device name: nothing
    to reset between examples), no deadline (the emulator is slow)."""
    return settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None, **kw)


def device(backend, a, contiguous=True):
    """a on the backend's device; contiguous=False gives a view with a stride-2 last axis."""
    be = get_backend(backend)
    if not isinstance(a, np.ndarray):
        return a
    if contiguous or a.ndim == 0:
        return be.asarray(a)
    return be.asarray(np.repeat(a, 2, axis=-1))[..., ::2]


def call(backend, primitive, *args, contiguous=True, **kw):
    """getattr(backend, primitive)(*args on the device, **kw) with the result(s) as NumPy arrays."""
    be = get_backend(backend)
    out = getattr(be, primitive)(*[device(backend, a, contiguous) for a in args], **kw)
    if isinstance(out, tuple):
        return tuple(be.to_numpy(o) for o in out)
    return be.to_numpy(out)


@contextlib.contextmanager
def our_gemm(backend):
    """Within the block matmul/bmm run our GEMM kernels (not BLAS / cuBLAS) whatever the shape."""
    be = get_backend(backend)
    old, be.gemm_impl = be.gemm_impl, "fastnn"
    try:
        yield
    finally:
        be.gemm_impl = old


def randn(shape, dtype, seed, scale=3.0):
    """Seeded standard normal data times `scale`, in `dtype`."""
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def ref64(fn, *arrays):
    """A float64 result of the outputs-first reference `fn(out, *arrays)` (out shaped like arrays[0])."""
    out = np.empty(np.shape(arrays[0]), np.float64)
    fn(out, *[np.asarray(a).astype(np.float64) for a in arrays])
    return out

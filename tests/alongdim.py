"""Hypothesis strategies and helpers shared by the along-a-dim kernel tests (test_index, test_scan, test_sort,
test_torch_parity_alongdim): an
array shape of 1-3 dims (sizes 0-5, so size-0 and size-1 dims occur), a dim drawn in [-ndim, ndim),
and arrays that are optionally non-contiguous (a transposed copy seen through its transpose)."""
import numpy as np
from hypothesis import HealthCheck, strategies as st

from fastnn.kernels.sort import ref as sort_ref

SETTINGS = dict(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
EPS = {np.dtype(np.float32): float(np.finfo(np.float32).eps), np.dtype(np.float64): float(np.finfo(np.float64).eps)}


@st.composite
def shape_and_dim(draw, max_size=5):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.integers(0, max_size)) for _ in range(ndim))
    return shape, draw(st.integers(-ndim, ndim - 1))


def noncontig(a):
    """An array equal to a whose strides are not C-contiguous (when a has >= 2 dims of size > 1)."""
    return np.ascontiguousarray(a.T).T


def values(rng, shape, dtype, ties=False, nans=False):
    """Normal values; ties: rounded to a few integers (with -0.0); nans: about 1 in 5 NaN."""
    x = rng.standard_normal(shape)
    if ties:
        x = np.round(x)
        x[x == 0] = rng.choice([0.0, -0.0], size=int((x == 0).sum()))
    if nans:
        x[rng.random(shape) < 0.2] = np.nan
    return x.astype(dtype)


def ref_sort(x, d, descending, k=None):
    """ref.sort over rows with dim d moved last, shaped back."""
    xm = np.moveaxis(x, d, -1)
    rows = np.ascontiguousarray(xm).reshape(int(np.prod(xm.shape[:-1])), x.shape[d])
    k = x.shape[d] if k is None else k
    v, i = np.empty((rows.shape[0], k), x.dtype), np.empty((rows.shape[0], k), np.int64)
    sort_ref.sort(v, i, rows, descending)
    return (np.moveaxis(v.reshape(xm.shape[:-1] + (k,)), -1, d), np.moveaxis(i.reshape(xm.shape[:-1] + (k,)), -1, d))

"""Sorting along a dim on every backend: the sort / topk primitives (kernels/sort) against
kernels/sort/ref.py over hypothesis shapes (size-0/1 dims, negative dims, non-contiguous inputs) with
ties, -0.0 and NaN (torch's stable order: NaN largest, ties by index), the cuda backend's fallback for
rows longer than SORT_MAX and other dtypes through ref.py (torch parity: test_torch_parity_alongdim.py)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from alongdim import SETTINGS, noncontig, ref_sort as _ref_sort, shape_and_dim, values
from fastnn.backends import get_backend


def _same(got, want, be):
    v, i = (be.to_numpy(a) for a in got)
    np.testing.assert_array_equal(i, want[1])
    np.testing.assert_array_equal(v, want[0])                         # NaN == NaN here
    np.testing.assert_array_equal(np.signbit(v), np.signbit(want[0]))  # -0.0 stays -0.0
    assert v.dtype == want[0].dtype and i.dtype == np.int64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=50, **SETTINGS)
@given(sd=shape_and_dim(max_size=7), descending=st.booleans(), ties=st.booleans(), nans=st.booleans(),
       nc=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_sort_matches_reference(backend, dtype, sd, descending, ties, nans, nc, seed):
    (shape, dim), be, rng = sd, get_backend(backend), np.random.default_rng(seed)
    d = dim % len(shape)
    x = values(rng, shape, dtype, ties, nans)
    _same(be.sort(be.asarray(noncontig(x) if nc else x), d, descending), _ref_sort(x, d, descending), be)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=50, **SETTINGS)
@given(sd=shape_and_dim(max_size=7), largest=st.booleans(), ties=st.booleans(), nans=st.booleans(),
       nc=st.booleans(), data=st.data())
def test_topk_matches_reference(backend, dtype, sd, largest, ties, nans, nc, data):
    (shape, dim), be = sd, get_backend(backend)
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    d = dim % len(shape)
    k = data.draw(st.integers(0, shape[d]))
    x = values(rng, shape, dtype, ties, nans)
    _same(be.topk(be.asarray(noncontig(x) if nc else x), k, d, largest), _ref_sort(x, d, largest, k), be)


@pytest.mark.parametrize("n, k", [(40, 3), (40, 33), (300, 40), (300, 300)])
def test_long_rows_both_topk_paths(backend, n, k):
    """Rows past the cpu insertion sort's runs (merges), top-k below and above TOPK_INSERT."""
    be, rng = get_backend(backend), np.random.default_rng(n + k)
    x = values(rng, (5, n), np.float32, ties=True, nans=True)
    for largest in (True, False):
        _same(be.topk(be.asarray(x), k, 1, largest), _ref_sort(x, 1, largest, k), be)


def test_rows_at_and_above_sort_max(backend):
    """cuda: rows of SORT_MAX run sort.cu at its shared-memory bound (48 KB for double), longer rows
    run ref.py on the device arrays; cpu: long rows through the radix sort. Same order everywhere."""
    from fastnn.backends.cuda import SORT_MAX

    be, rng = get_backend(backend), np.random.default_rng(7)
    for n, dtype in ((SORT_MAX + 3, np.float32), (SORT_MAX, np.float64)):   # fallback; 48 KB of shared memory
        x = values(rng, (2, n), dtype, ties=True, nans=True)
        for descending in (False, True):
            _same(be.sort(be.asarray(x), 1, descending), _ref_sort(x, 1, descending), be)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_other_dtypes_run_the_reference(backend, dtype):
    be, rng = get_backend(backend), np.random.default_rng(8)
    x = rng.integers(0, 3, (4, 9)).astype(dtype)
    for descending in (False, True):
        _same(be.sort(be.asarray(x), 1, descending), _ref_sort(x, 1, descending), be)

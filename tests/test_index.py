"""Indexing along a dim on every backend: the gather / scatter_add primitives (kernels/index) against
kernels/index/ref.py over hypothesis shapes (size-0/1 dims, negative dims, non-contiguous inputs, index
smaller than the input, repeated indices), index_add's 1-D-index rows, other dtypes through ref.py,
and the cpu kernels' guard against out-of-range indices (torch parity: test_torch_parity_alongdim.py)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from alongdim import EPS, SETTINGS, noncontig, shape_and_dim, values
from fastnn.backends import get_backend
from fastnn.backends.base import lines_shape
from fastnn.kernels.index import ref


def _case(rng, shape, d, smaller):
    """An index for dim d: K in [0, 4] entries along d (0 when the dim is empty), and on the other dims
    the input's sizes or (smaller) sizes no larger."""
    n = shape[d]
    ishape = tuple((int(rng.integers(0, 5)) if n else 0) if k == d else
                   (int(rng.integers(0, s + 1)) if smaller else s) for k, s in enumerate(shape))
    return rng.integers(0, max(n, 1), size=ishape).astype(np.int64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=40, **SETTINGS)
@given(sd=shape_and_dim(), nc=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_gather_matches_reference(backend, dtype, sd, nc, seed):
    (shape, dim), be, rng = sd, get_backend(backend), np.random.default_rng(seed)
    d = dim % len(shape)
    x, index = values(rng, shape, dtype), _case(rng, shape, d, smaller=False)
    x = x[tuple(slice(None) if k == d else slice(0, n) for k, n in enumerate(index.shape))]
    want = np.empty(index.shape, dtype)
    ref.gather(want.reshape(lines_shape(index.shape, d)), x.reshape(lines_shape(x.shape, d)),
               index.reshape(lines_shape(index.shape, d)))
    got = be.gather(be.asarray(noncontig(x) if nc else x), be.asarray(noncontig(index) if nc else index), d)
    np.testing.assert_array_equal(be.to_numpy(got), want)
    np.testing.assert_array_equal(want, np.take_along_axis(x, index, axis=d))  # the reference itself


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=40, **SETTINGS)
@given(sd=shape_and_dim(), nc=st.booleans(), smaller=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_scatter_add_matches_reference(backend, dtype, sd, nc, smaller, seed):
    (shape, dim), be, rng = sd, get_backend(backend), np.random.default_rng(seed)
    d = dim % len(shape)
    out0, index = values(rng, shape, dtype), _case(rng, shape, d, smaller)
    src = values(rng, index.shape, dtype)
    want = out0.astype(np.float64)
    lead = want[tuple(slice(None) if k == d else slice(0, n) for k, n in enumerate(index.shape))].copy()
    ref.scatter_add(lead.reshape(lines_shape(lead.shape, d)), index.reshape(lines_shape(index.shape, d)),
                    src.astype(np.float64).reshape(lines_shape(src.shape, d)))
    want[tuple(slice(None) if k == d else slice(0, n) for k, n in enumerate(index.shape))] = lead
    out = be.asarray(noncontig(out0) if nc else out0)
    got = be.scatter_add(out, be.asarray(noncontig(index) if nc else index), be.asarray(src), d)
    assert got is out
    # each entry: |out0| + the |src| added to it, rounded once per addition (order unspecified on cuda)
    mag = np.abs(out0).astype(np.float64)
    m_lead = mag[tuple(slice(None) if k == d else slice(0, n) for k, n in enumerate(index.shape))].copy()
    ref.scatter_add(m_lead.reshape(lines_shape(m_lead.shape, d)), index.reshape(lines_shape(index.shape, d)),
                    np.abs(src).astype(np.float64).reshape(lines_shape(src.shape, d)))
    mag[tuple(slice(None) if k == d else slice(0, n) for k, n in enumerate(index.shape))] = m_lead
    bound = (index.shape[d] + 1) * EPS[np.dtype(dtype)] * mag
    assert np.all(np.abs(be.to_numpy(got) - want) <= bound)


def test_repeated_indices_accumulate(backend):
    be = get_backend(backend)
    out = be.asarray(np.zeros((2, 3)))
    index = np.array([[2, 2, 2, 0], [1, 1, 1, 1]])
    be.scatter_add(out, be.asarray(index), be.asarray(np.ones((2, 4))), 1)
    np.testing.assert_array_equal(be.to_numpy(out), [[1, 0, 3], [0, 4, 0]])


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_other_dtypes_run_the_reference(backend, dtype):
    be = get_backend(backend)
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2, (4, 5)).astype(dtype)
    index = rng.integers(0, 4, (3, 5))
    np.testing.assert_array_equal(be.to_numpy(be.gather(be.asarray(x), be.asarray(index), 0)),
                                  np.take_along_axis(x, index, 0))
    if dtype != np.bool_:
        out = be.asarray(np.zeros((4, 5), dtype))
        be.scatter_add(out, be.asarray(index), be.asarray(x[:3]), 0)
        want = np.zeros((4, 5), dtype)
        np.add.at(want, (index, np.arange(5)[None, :]), x[:3])
        np.testing.assert_array_equal(be.to_numpy(out), want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_realistic_shape_matches_reference(dtype):
    """(128, 1000) on the cpu kernels: many tiles, both dims (parallel tiles partition the output)."""
    be, rng = get_backend("cpu"), np.random.default_rng(2)
    x = values(rng, (128, 1000), dtype)
    for d in (0, 1):
        index = rng.integers(0, x.shape[d], x.shape)
        np.testing.assert_array_equal(be.gather(x, index, d), np.take_along_axis(x, index, d))
        want = np.zeros(x.shape)
        ref.scatter_add(want.reshape(lines_shape(x.shape, d)), index.reshape(lines_shape(x.shape, d)),
                        x.astype(np.float64).reshape(lines_shape(x.shape, d)))
        got = be.scatter_add(np.zeros_like(x), index, x, d)
        mag = np.zeros(x.shape)
        ref.scatter_add(mag.reshape(lines_shape(x.shape, d)), index.reshape(lines_shape(x.shape, d)),
                        np.abs(x).astype(np.float64).reshape(lines_shape(x.shape, d)))
        assert np.all(np.abs(got - want) <= (x.shape[d] + 1) * EPS[np.dtype(dtype)] * mag)


# ---- index_add: a 1-D index along the first axis (embedding / index_select / padding backwards) -------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=40, **SETTINGS)
@given(N=st.integers(1, 6), rest=st.lists(st.integers(0, 4), max_size=2), K=st.integers(0, 12), nc=st.booleans(),
       seed=st.integers(0, 2 ** 16))
def test_index_add_rows_matches_reference(backend, dtype, N, rest, K, nc, seed):
    be, rng = get_backend(backend), np.random.default_rng(seed)
    shape = (N,) + tuple(rest)
    out0 = values(rng, shape, dtype)
    index = rng.integers(-N, N, K)                       # negative indices count from the end
    src = values(rng, (K,) + tuple(rest), dtype)
    B = int(np.prod(rest, dtype=np.int64))
    want = out0.astype(np.float64)
    ref.index_add_rows(want.reshape(N, B), index, src.astype(np.float64).reshape(K, B))
    mag = np.abs(out0).astype(np.float64)
    ref.index_add_rows(mag.reshape(N, B), index, np.abs(src).astype(np.float64).reshape(K, B))
    out = be.asarray(noncontig(out0) if nc else out0)
    got = be.index_add(out, be.asarray(index), be.asarray(noncontig(src) if nc else src))
    assert got is out
    assert np.all(np.abs(be.to_numpy(out) - want) <= (K + 1) * EPS[np.dtype(dtype)] * mag)


def test_index_add_other_indices_keep_add_at_semantics(backend):
    """Tuple and 2-D indices (getitem's backward) still accumulate like np.add.at."""
    be = get_backend(backend)
    out = be.asarray(np.zeros((3, 4)))
    be.index_add(out, (be.asarray(np.array([0, 0, 2])), be.asarray(np.array([1, 1, 3]))), be.asarray(np.ones(3)))
    be.index_add(out, be.asarray(np.array([[1, 1]])), be.asarray(np.ones((1, 2, 4))))
    np.testing.assert_array_equal(be.to_numpy(out), [[0, 2, 0, 0], [2, 2, 2, 2], [0, 0, 0, 1]])


def test_cpu_kernels_refuse_out_of_range_indices_plainly():
    """Below the ops' checks the cpu kernels skip and count bad indices; the backend raises a plain error."""
    be = get_backend("cpu")
    x = np.zeros((2, 3))
    for call in (lambda: be.gather(x, np.array([[0, 3, 1]] * 2), 1),
                 lambda: be.scatter_add(x.copy(), np.array([[-1], [0]]), np.ones((2, 1)), 1),
                 lambda: be.index_add(x.copy(), np.array([2]), np.ones((1, 3)))):
        with pytest.raises(RuntimeError, match="out of bounds for dimension"):
            call()

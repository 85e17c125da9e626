"""Sorting along a dim on every backend: the sort / topk primitives (kernels/sort) against
kernels/sort/ref.py over hypothesis shapes (size-0/1 dims, negative dims, non-contiguous inputs) with
ties, -0.0 and NaN (torch's stable order: NaN largest, ties by index), the cuda backend's fallback for
rows longer than SORT_MAX, other dtypes through ref.py, and the ops against torch."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import fastnn
from alongdim import SETTINGS, noncontig, shape_and_dim, values
from fastnn.backends import get_backend
from fastnn.kernels.sort import ref


def _ref_sort(x, d, descending, k=None):
    """ref.sort over rows with dim d moved last, shaped back."""
    xm = np.moveaxis(x, d, -1)
    rows = np.ascontiguousarray(xm).reshape(int(np.prod(xm.shape[:-1])), x.shape[d])
    k = x.shape[d] if k is None else k
    v, i = np.empty((rows.shape[0], k), x.dtype), np.empty((rows.shape[0], k), np.int64)
    ref.sort(v, i, rows, descending)
    return (np.moveaxis(v.reshape(xm.shape[:-1] + (k,)), -1, d), np.moveaxis(i.reshape(xm.shape[:-1] + (k,)), -1, d))


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


def test_cuda_falls_back_above_sort_max(backend):
    """Rows of SORT_MAX run sort.cu at its shared-memory bound; longer rows run ref.py on the device
    arrays (same order)."""
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


def test_reference_order_is_torchs_stable_order():
    """The oracle itself against torch.sort(stable=True): NaN, ties, -0.0, both directions."""
    rng = np.random.default_rng(9)
    x = values(rng, (6, 30), np.float64, ties=True, nans=True)
    for descending in (False, True):
        tv, ti = torch.sort(torch.tensor(x), dim=1, descending=descending, stable=True)
        v, i = _ref_sort(x, 1, descending)
        np.testing.assert_array_equal(i, ti.numpy())
        np.testing.assert_array_equal(v, tv.numpy())


# ---- the ops against torch ---------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1, -2])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_op_matches_torch_stable(backend, dim, descending):
    rng = np.random.default_rng(10)
    x = values(rng, (5, 7), np.float32, ties=True, nans=True)
    tv, ti = torch.sort(torch.tensor(x), dim=dim, descending=descending, stable=True)
    v, i = fastnn.tensor(x, device=backend).sort(dim, descending, stable=True)
    np.testing.assert_array_equal(i.cpu().numpy(), ti.numpy())
    np.testing.assert_array_equal(v.cpu().numpy(), tv.numpy())
    np.testing.assert_array_equal(fastnn.tensor(x, device=backend).argsort(dim, descending).cpu().numpy(), ti.numpy())


@pytest.mark.parametrize("largest", [False, True])
def test_topk_op_values_and_grads_match_torch(backend, largest):
    """Distinct values (torch's tie order in topk is unspecified) plus NaNs; gradients flow back."""
    rng = np.random.default_rng(11)
    x = rng.permutation(40).reshape(5, 8).astype(np.float64) / 7
    x[1, 3] = x[3, 0] = np.nan
    res = []
    for L, dev in ((torch, "cpu"), (fastnn, backend)):
        t = L.tensor(x, requires_grad=True, device=dev)
        v, i = t.topk(3, dim=-1, largest=largest)
        (L.nan_to_num(v, nan=5.0) * L.arange(3.0, dtype=v.dtype).to(dev)).sum().backward()
        res.append((v.detach().cpu().numpy(), i.cpu().numpy(), t.grad.cpu().numpy()))
    for want, got in zip(*res):
        np.testing.assert_array_equal(got, want)


def test_sort_errors_match_torch(backend):
    cases = [lambda L, a: a.sort(dim=2), lambda L, a: a.topk(5), lambda L, a: a.topk(2, dim=-3),
             lambda L, a: a.argsort(dim=3)]
    for fn in cases:
        with pytest.raises((IndexError, RuntimeError)) as t_err:
            fn(torch, torch.zeros(3, 4))
        with pytest.raises(t_err.type) as e:
            fn(fastnn, fastnn.zeros(3, 4, device=backend))
        assert str(t_err.value) in str(e.value)

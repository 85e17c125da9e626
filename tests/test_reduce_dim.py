"""Reductions along a dim on every backend: the reduce_dim ('sum' | 'prod') and max_dim primitives
(kernels/reduce) against kernels/reduce/ref.py on float64 copies over hypothesis shapes (size-0/1 dims,
negative dims, non-contiguous inputs, ties and NaNs for max/min), rows longer than a warp, integer dtypes
through ref.py, and the ops (sum/mean/prod over tuples of dims, max/min/argmax/argmin with their errors)
against torch."""
import numpy as np
import pytest
torch = pytest.importorskip("torch", reason="torch==2.13.0 is the oracle of these tests")
from hypothesis import given, settings, strategies as st  # noqa: E402

import fastnn
from alongdim import EPS, SETTINGS, noncontig, shape_and_dim, values
from fastnn.backends import get_backend
from fastnn.backends.base import lines_shape
from fastnn.kernels.reduce import ref


def _ref_reduce(op, x, d):
    """ref.<op>_lines on a float64 copy through the (A, N, B) view, shaped like x without dim d."""
    A, N, B = lines_shape(x.shape, d)
    out = np.empty((A, B))
    getattr(ref, op + "_lines")(out, np.asarray(x, np.float64).reshape(A, N, B))
    return out.reshape(x.shape[:d] + x.shape[d + 1:])


def _ref_extreme(x, d, minimum):
    A, N, B = lines_shape(x.shape, d)
    v, i = np.empty((A, B), x.dtype), np.empty((A, B), np.int64)
    ref.extreme_lines(v, i, np.ascontiguousarray(x).reshape(A, N, B), minimum)
    shape = x.shape[:d] + x.shape[d + 1:]
    return v.reshape(shape), i.reshape(shape)


@pytest.mark.parametrize("op", ["sum", "prod"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=40, **SETTINGS)
@given(sd=shape_and_dim(max_size=6), nc=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_reduce_dim_matches_reference(backend, op, dtype, sd, nc, seed):
    (shape, dim), be, rng = sd, get_backend(backend), np.random.default_rng(seed)
    d = dim % len(shape)
    x = values(rng, shape, dtype)
    got = be.to_numpy(be.reduce_dim(op, be.asarray(noncontig(x) if nc else x), d))
    want = _ref_reduce(op, x, d)
    assert got.shape == want.shape and got.dtype == x.dtype
    # float64 accumulation (N roundings, any order) + the final rounding to dtype; |prod| = prod|x|
    bound = (shape[d] + 2) * EPS[np.dtype(dtype)] * _ref_reduce(op, np.abs(x), d)
    assert np.all(np.abs(got - want) <= bound)


@pytest.mark.parametrize("minimum", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=40, **SETTINGS)
@given(sd=shape_and_dim(max_size=6), nc=st.booleans(), ties=st.booleans(), nans=st.booleans(),
       seed=st.integers(0, 2 ** 16))
def test_max_dim_matches_reference(backend, minimum, dtype, sd, nc, ties, nans, seed):
    (shape, dim), be, rng = sd, get_backend(backend), np.random.default_rng(seed)
    d = dim % len(shape)
    x = values(rng, shape, dtype, ties=ties, nans=nans)
    xd = be.asarray(noncontig(x) if nc else x)
    if shape[d] == 0:
        name = "min" if minimum else "max"
        with pytest.raises(IndexError, match=rf"^{name}\(\): Expected reduction dim {d} to have non-zero size\.$"):
            be.max_dim(xd, d, minimum)
        return
    v, i = (be.to_numpy(a) for a in be.max_dim(xd, d, minimum))
    want_v, want_i = _ref_extreme(x, d, minimum)
    assert v.dtype == x.dtype and i.dtype == np.int64
    np.testing.assert_array_equal(i, want_i)
    np.testing.assert_array_equal(v, want_v)   # NaNs compare equal here


@pytest.mark.parametrize("minimum", [False, True])
def test_max_dim_follows_torch_on_ties_and_nans_at_warp_width(backend, minimum):
    """Rows longer than 32 (the cuda warp kernel's lanes each see a strided part), ties across lanes, NaNs
    late in a row and a row whose first entry is NaN, along both dims, in an input large enough that the
    cpu backend runs NumPy for the dim-last case; torch is the oracle."""
    be = get_backend(backend)
    x = np.round(np.random.default_rng(3).standard_normal((170, 100)) * 2).astype(np.float32)
    x[1, 70], x[1, 90] = np.nan, np.nan
    x[2, 0] = np.nan
    x[3, :] = 1.0
    x[4, 5], x[4, 37] = 50.0 * (-1 if minimum else 1), 50.0 * (-1 if minimum else 1)
    for d in (0, 1):
        v, i = (be.to_numpy(a) for a in be.max_dim(be.asarray(x), d, minimum))
        tv, ti = (torch.min if minimum else torch.max)(torch.from_numpy(x), d)
        np.testing.assert_array_equal(i, ti.numpy())
        np.testing.assert_array_equal(v, tv.numpy())


@pytest.mark.parametrize("op", ["sum", "prod"])
def test_reduce_dim_at_warp_width(backend, op):
    be, rng = get_backend(backend), np.random.default_rng(4)
    x = values(rng, (3, 100), np.float32)
    x = 1 + 0.01 * x if op == "prod" else x
    for d in (0, 1):
        got = be.to_numpy(be.reduce_dim(op, be.asarray(x), d))
        bound = (x.shape[d] + 2) * EPS[np.dtype(np.float32)] * _ref_reduce(op, np.abs(x), d)
        assert np.all(np.abs(got - _ref_reduce(op, x, d)) <= bound)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_integer_reductions_run_the_reference(backend, dtype):
    be = get_backend(backend)
    x = (np.arange(12).reshape(3, 4) % 5).astype(dtype)
    for d in (0, 1):
        s, p = (be.to_numpy(be.reduce_dim(op, be.asarray(x), d)) for op in ("sum", "prod"))
        assert s.dtype == np.int64 and p.dtype == np.int64
        np.testing.assert_array_equal(s, x.astype(np.int64).sum(d))
        np.testing.assert_array_equal(p, x.astype(np.int64).prod(d))
        v, i = (be.to_numpy(a) for a in be.max_dim(be.asarray(x), d, False))
        tv, ti = torch.max(torch.from_numpy(x), d)
        np.testing.assert_array_equal(i, ti.numpy())
        np.testing.assert_array_equal(v, tv.numpy())


# ---- the ops, against torch ---------------------------------------------------------------------------
@pytest.mark.parametrize("dims", [(0, 2), (1, 2), (0, 1, 2), (-1, 0), 1, None])
@pytest.mark.parametrize("keepdim", [False, True])
def test_sum_mean_prod_over_dims_match_torch(backend, dims, keepdim):
    x = np.random.default_rng(5).standard_normal((3, 4, 5))
    t, f = torch.from_numpy(x), fastnn.tensor(x, device=backend)
    bound = 30 * EPS[np.dtype(np.float64)] * np.abs(x).sum()
    for name in ("sum", "mean"):
        want = (getattr(t, name)(dims, keepdim) if dims is not None else getattr(t, name)()).numpy()
        got = (getattr(f, name)(dims, keepdim) if dims is not None else getattr(f, name)()).cpu().numpy()
        assert got.shape == want.shape and np.all(np.abs(got - want) <= bound)
    if not isinstance(dims, tuple):
        want = (t.prod(dims, keepdim) if dims is not None else t.prod()).numpy()
        got = (f.prod(dims, keepdim) if dims is not None else f.prod()).cpu().numpy()
        assert got.shape == want.shape and np.all(np.abs(got - want) <= 30 * EPS[np.dtype(np.float64)] * np.abs(want))


@pytest.mark.parametrize("name", ["max", "min", "argmax", "argmin"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_ops_and_their_errors_match_torch(backend, name, keepdim):
    x = np.array([[1.0, np.nan, 3.0, np.nan], [2.0, 2.0, 1.0, 1.0], [0.5, 0.5, 0.5, -0.5]], np.float32)
    t, f = torch.from_numpy(x), fastnn.tensor(x, device=backend)
    for dim in (0, 1, -1):
        want, got = getattr(t, name)(dim, keepdim), getattr(f, name)(dim, keepdim)
        if name in ("max", "min"):
            np.testing.assert_array_equal(got[0].cpu().numpy(), want[0].numpy())
            want, got = want[1], got[1]
        np.testing.assert_array_equal(got.cpu().numpy(), want.numpy())
    if name.startswith("arg"):
        np.testing.assert_array_equal(getattr(f, name)(None, keepdim).cpu().numpy(),
                                      getattr(t, name)(None, keepdim).numpy())
    empty_t, empty_f = torch.zeros(0, 3), fastnn.zeros(0, 3, device=backend)
    for dim in (0, None):
        with pytest.raises(Exception) as want:
            getattr(empty_t, name)(*(() if dim is None else (dim,)))
        with pytest.raises(type(want.value)) as got:
            getattr(empty_f, name)(*(() if dim is None else (dim,)))
        assert str(got.value) == str(want.value)


def test_max_dim_gradient_goes_to_the_first_extreme(backend):
    x = np.array([[1.0, 3.0, 3.0], [2.0, -1.0, 2.0]])
    t, f = torch.tensor(x, requires_grad=True), fastnn.tensor(x, device=backend, requires_grad=True)
    (t.max(1)[0] * torch.tensor([1.0, 2.0], dtype=torch.float64)).sum().backward()
    (f.max(1)[0] * fastnn.tensor([1.0, 2.0], device=backend)).sum().backward()
    np.testing.assert_array_equal(f.grad.cpu().numpy(), t.grad.numpy())


# ---- the Numba entry points themselves (the cpu backend routes dim-last max/min to NumPy) ---------------
@pytest.mark.parametrize("minimum", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=40, deadline=None)
@given(A=st.integers(0, 4), N=st.integers(1, 40), B=st.integers(1, 5), ties=st.booleans(), nans=st.booleans(),
       seed=st.integers(0, 2 ** 16))
def test_numba_kernels_match_reference(minimum, dtype, A, N, B, ties, nans, seed):
    from fastnn.kernels.reduce import cpu

    x = values(np.random.default_rng(seed), (A, N, B), dtype, ties=ties, nans=nans)
    v, i = np.empty((A, B), dtype), np.empty((A, B), np.int64)
    cpu.extreme_lines(v, i, x, minimum)
    want_v, want_i = _ref_extreme(x, 1, minimum)
    np.testing.assert_array_equal(i, want_i)
    np.testing.assert_array_equal(v, want_v)
    for op in ("sum", "prod"):
        out = np.empty((A, B), dtype)
        cpu.reduce_lines(out, x, op == "prod")
        want = _ref_reduce(op, x, 1)
        bound = (N + 2) * EPS[np.dtype(dtype)] * _ref_reduce(op, np.abs(x), 1)
        finite = ~np.isnan(want)
        assert np.array_equal(np.isnan(out), ~finite) and np.all(np.abs(out - want)[finite] <= bound[finite])


@pytest.mark.parametrize("dims", [(0, 2), 1, -1, (), (0, 1, 2)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_amax_and_logsumexp_match_torch(backend, dims, keepdim):
    x = np.round(np.random.default_rng(6).standard_normal((3, 4, 5)) * 2)
    x[1, 2, 3] = np.nan
    t, f = torch.from_numpy(x), fastnn.tensor(x, device=backend)
    np.testing.assert_array_equal(f.amax(dims, keepdim).cpu().numpy(), t.amax(dims, keepdim).numpy())
    if dims != ():
        y = np.random.default_rng(7).standard_normal((3, 4, 5))
        want = torch.from_numpy(y).logsumexp(dims, keepdim).numpy()
        got = fastnn.tensor(y, device=backend).logsumexp(dims, keepdim).cpu().numpy()
        assert got.shape == want.shape and np.all(np.abs(got - want) <= 64 * EPS[np.dtype(np.float64)] * np.abs(want))


@pytest.mark.parametrize("shape, dims", [((0, 3), ()), ((0, 3), (0, 1)), ((2, 0), (0, 1)), ((2, 0, 3), (0, 2)),
                                         ((2, 0, 3), 1), ((0, 3), 1)])
def test_amax_empty_matches_torch(backend, shape, dims):
    t, f = torch.zeros(shape), fastnn.zeros(*shape, device=backend)
    try:
        want = t.amax(dims)
    except (IndexError, RuntimeError) as e:
        with pytest.raises(type(e)) as got:
            f.amax(dims)
        assert str(got.value) == str(e)
        return
    assert tuple(f.amax(dims).shape) == tuple(want.shape)


@pytest.mark.parametrize("shape, dim", [((9000,), 0), ((2, 9000), 1), ((9000, 3), 0)])
def test_few_long_lines(backend, shape, dim):
    """A few lines of >= 8192 entries (x.sum() of a big tensor): cuda hands them to CuPy's reductions
    through ref.py instead of one warp per line; values against float64 NumPy and torch."""
    be = get_backend(backend)
    x = values(np.random.default_rng(8), shape, np.float32, ties=True)
    x.reshape(-1)[7777] = np.nan if x.ndim == 1 else x.reshape(-1)[7777]
    got = be.to_numpy(be.reduce_dim("sum", be.asarray(x), dim))
    bound = (shape[dim] + 2) * EPS[np.dtype(np.float32)] * _ref_reduce("sum", np.abs(x), dim)
    want = _ref_reduce("sum", x, dim)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert np.all((np.abs(got - want) <= bound)[~np.isnan(want)])
    v, i = (be.to_numpy(a) for a in be.max_dim(be.asarray(x), dim, False))
    tv, ti = torch.max(torch.from_numpy(x), dim)
    np.testing.assert_array_equal(i, ti.numpy())
    np.testing.assert_array_equal(v, tv.numpy())

"""fastnn.nn.utils against a float64 NumPy oracle on every backend: clip_grad_norm_ (2, 1, 3, inf, 0
norms, error_if_nonfinite, no grads), clip_grad_value_, parameters_to_vector / vector_to_parameters."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastnn
from fastnn.nn import utils as U


def _params(arrays, device):
    """Leaf tensors whose .grad is the given array (so clipping acts on known values)."""
    ps = []
    for a in arrays:
        p = fastnn.tensor(np.zeros_like(a), device=device, requires_grad=True)
        p.grad = fastnn.tensor(a, device=device)
        ps.append(p)
    return ps


def _oracle_norm(arrays, p):
    flat = np.concatenate([np.abs(a.astype(np.float64).ravel()) for a in arrays])
    if math.isinf(p):
        return flat.max() if p > 0 else flat.min()
    if p == 0:
        return float((flat != 0).sum())
    return (flat ** p).sum() ** (1.0 / p)


def _np(t):
    return t.backend.to_numpy(t._data)


shapes = st.lists(st.tuples(st.integers(0, 4), st.integers(1, 5)), min_size=1, max_size=4)


@settings(max_examples=25, deadline=None)
@given(shapes=shapes, p=st.sampled_from([2.0, 1.0, 3.0, float("inf")]), max_norm=st.floats(0.05, 20.0),
       seed=st.integers(0, 1000))
def test_clip_grad_norm_matches_oracle_float64(shapes, p, max_norm, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) * 3 for s in shapes]
    for device in ("cpu",) + (("cuda",) if fastnn.cuda.is_available() else ()):
        ps = _params(arrays, device)
        if math.isinf(p) and any(a.size == 0 for a in arrays):   # no identity for max: torch raises too
            with pytest.raises(RuntimeError, match="cannot compute the inf norm on an empty tensor"):
                U.clip_grad_norm_(ps, max_norm, norm_type=p)
            continue
        total = U.clip_grad_norm_(ps, max_norm, norm_type=p)
        want = _oracle_norm(arrays, p)
        eps = np.finfo(np.float64).eps
        assert abs(float(total) - want) <= 64 * eps * max(want, 1.0)
        coef = min(max_norm / (want + 1e-6), 1.0)
        for a, q in zip(arrays, ps):
            np.testing.assert_allclose(_np(q.grad), a * coef, rtol=64 * eps, atol=64 * eps * np.abs(a).max(initial=0))


def test_clip_grad_norm_float32_and_noncontiguous_grad(backend):
    rng = np.random.default_rng(1)
    base = rng.standard_normal((6, 8)).astype(np.float32)
    p = fastnn.tensor(np.zeros((8, 3), np.float32), device=backend, requires_grad=True)
    p.grad = fastnn.tensor(base, device=backend)[::2, ::2].t()         # a strided view, (4, 3)
    a = base[::2, ::2].T.astype(np.float64)
    total = U.clip_grad_norm_([p], 0.5)
    want = np.sqrt((a ** 2).sum())
    eps = np.finfo(np.float32).eps
    assert total.dtype == fastnn.float32 and abs(float(total) - want) <= 8 * eps * want
    np.testing.assert_allclose(_np(p.grad), a * 0.5 / (want + 1e-6), rtol=8 * eps, atol=8 * eps * np.abs(a).max())


def test_clip_grad_norm_below_max_leaves_grads_and_skips_none(backend):
    a = np.array([0.3, -0.4])
    ps = _params([a], backend) + [fastnn.zeros(3, device=backend, requires_grad=True)]   # second: grad None
    total = U.clip_grad_norm_(iter(ps), max_norm=1.0)
    assert float(total) == pytest.approx(0.5, rel=1e-15)
    np.testing.assert_array_equal(_np(ps[0].grad), a)      # coefficient clamped to exactly 1
    assert ps[1].grad is None


def test_clip_grad_norm_zero_norm_counts_nonzero_norms(backend):
    # the 0-"norm" of the per-gradient 0-norms (2, 0, 1): the number of gradients with a nonzero entry
    ps = _params([np.array([0.0, 2.0, 0.0, -1.0]), np.zeros(2), np.array([5.0])], backend)
    assert float(U.clip_grad_norm_(ps, 100.0, norm_type=0)) == 2.0


def test_clip_grad_norm_nonfinite(backend):
    ps = _params([np.array([1.0, np.nan]), np.array([2.0])], backend)
    with pytest.raises(RuntimeError, match=r"The total norm of order 2.0 for gradients from `parameters` is "
                                           r"non-finite, so it cannot be clipped"):
        U.clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    total = U.clip_grad_norm_(ps, 1.0)                 # default: scaled by the NaN norm, as torch does
    assert math.isnan(float(total)) and np.isnan(_np(ps[1].grad)).all()


def test_clip_grad_norm_no_grads_and_empty_generator():
    total = U.clip_grad_norm_([fastnn.zeros(2, requires_grad=True)], 1.0)
    assert float(total) == 0.0 and total.dtype == fastnn.float32
    with pytest.warns(UserWarning, match="`parameters` is an empty generator"):
        U.clip_grad_norm_((p for p in []), 1.0)


def test_clip_grad_value(backend):
    a = np.array([[-3.0, 0.5], [np.nan, 7.0]])
    ps = _params([a], backend)
    assert U.clip_grad_value_(ps, 1.0) is None
    np.testing.assert_array_equal(_np(ps[0].grad), np.array([[-1.0, 0.5], [np.nan, 1.0]]))


def test_parameters_vector_round_trip(backend):
    m = fastnn.nn.Sequential(fastnn.nn.Linear(3, 2), fastnn.nn.Linear(2, 1)).to(backend)
    want = np.concatenate([_np(p).ravel() for p in m.parameters()])
    vec = U.parameters_to_vector(m.parameters())
    np.testing.assert_array_equal(_np(vec), want)
    new = fastnn.arange(want.size, dtype=fastnn.float32, device=backend)
    U.vector_to_parameters(new, m.parameters())
    np.testing.assert_array_equal(_np(m[0].weight), np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(_np(m[1].bias), np.array([10.0], np.float32))   # after 6 + 2 + 2
    with pytest.raises(TypeError, match="expected torch.Tensor, but got: list"):
        U.vector_to_parameters([1.0], m.parameters())


def test_parameters_to_vector_is_differentiable(backend):
    w = fastnn.tensor([[1.0, 2.0]], device=backend, requires_grad=True)
    b = fastnn.tensor([3.0], device=backend, requires_grad=True)
    (U.parameters_to_vector([w, b]) * fastnn.tensor([1.0, 2.0, 3.0], device=backend)).sum().backward()
    np.testing.assert_array_equal(_np(w.grad), [[1.0, 2.0]])
    np.testing.assert_array_equal(_np(b.grad), [3.0])

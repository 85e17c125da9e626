"""Every differentiable op's hand-derived backward against float64 central differences."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastnn
from gradcheck import check_grads

rng = np.random.default_rng(0)


def r(*shape):
    return rng.standard_normal(shape)


def pos(*shape):
    return np.abs(rng.standard_normal(shape)) + 0.5


CASES = {
    "add_broadcast": (lambda a, b: a + b, lambda a, b: a + b, [r(3, 4), r(4)]),
    "sub_broadcast": (lambda a, b: a - b, lambda a, b: a - b, [r(3, 1), r(1, 4)]),
    "mul": (lambda a, b: a * b, lambda a, b: a * b, [r(2, 3), r(2, 3)]),
    "div": (lambda a, b: a / b, lambda a, b: a / b, [r(2, 3), pos(3)]),
    "pow_scalar": (lambda a: a ** 3, lambda a: a ** 3, [r(4)]),
    "pow_tensor": (lambda a, b: a ** b, lambda a, b: a ** b, [pos(3), r(3)]),
    "neg": (lambda a: -a, lambda a: -a, [r(3)]),
    "exp": (lambda a: a.exp(), np.exp, [r(3, 2)]),
    "log": (lambda a: a.log(), np.log, [pos(3, 2)]),
    "sqrt": (lambda a: a.sqrt(), np.sqrt, [pos(5)]),
    "relu": (lambda a: a.relu(), lambda a: np.maximum(a, 0), [r(4, 5)]),
    "sigmoid": (lambda a: a.sigmoid(), lambda a: 1 / (1 + np.exp(-a)), [r(4, 5)]),
    "tanh": (lambda a: a.tanh(), np.tanh, [r(4, 5)]),
    "softmax_dim1": (lambda a: a.softmax(1), lambda a: np.exp(a) / np.exp(a).sum(1, keepdims=True), [r(3, 5)]),
    "softmax_dim0": (lambda a: a.softmax(0), lambda a: np.exp(a) / np.exp(a).sum(0, keepdims=True), [r(3, 5)]),
    "log_softmax": (lambda a: a.log_softmax(-1), lambda a: a - np.log(np.exp(a).sum(-1, keepdims=True)), [r(2, 3, 4)]),
    "sum_dim": (lambda a: a.sum(1), lambda a: a.sum(1), [r(3, 4)]),
    "sum_rows": (lambda a: a.sum(0), lambda a: a.sum(0), [r(5, 3)]),
    "mean_keepdim": (lambda a: a.mean(0, keepdim=True), lambda a: a.mean(0, keepdims=True), [r(3, 4)]),
    "max_dim": (lambda a: a.max(1)[0], lambda a: a.max(1), [r(3, 4)]),
    "max_all": (lambda a: a.max(), lambda a: a.max(), [r(3, 4)]),
    "matmul_2d": (lambda a, b: a @ b, lambda a, b: a @ b, [r(3, 4), r(4, 2)]),
    "matmul_batch_fold": (lambda a, b: a @ b, lambda a, b: a @ b, [r(2, 3, 4), r(4, 2)]),
    "matmul_broadcast": (lambda a, b: a @ b, lambda a, b: a @ b, [r(2, 1, 3, 4), r(3, 4, 2)]),
    "matmul_vec": (lambda a, b: a @ b, lambda a, b: a @ b, [r(4), r(4, 3)]),
    "dot": (lambda a, b: a.dot(b), lambda a, b: a @ b, [r(5), r(5)]),
    "outer": (lambda a, b: a.outer(b), np.outer, [r(3), r(4)]),
    "transpose_matmul": (lambda a, b: a.T @ b, lambda a, b: a.T @ b, [r(4, 3), r(4, 2)]),
    "getitem_basic": (lambda a: a[1:, ::2], lambda a: a[1:, ::2], [r(3, 5)]),
    "getitem_repeat": (lambda a: a[[0, 0, 2]], lambda a: a[[0, 0, 2]], [r(3, 2)]),
    "cat": (lambda a, b: fastnn.cat([a, b], 1), lambda a, b: np.concatenate([a, b], 1), [r(2, 3), r(2, 1)]),
    "stack": (lambda a, b: fastnn.stack([a, b], 0), lambda a, b: np.stack([a, b], 0), [r(2, 3), r(2, 3)]),
    "reshape_permute": (lambda a: a.reshape(2, 6).permute(1, 0), lambda a: a.reshape(2, 6).T, [r(3, 4)]),
    "expand": (lambda a: a.expand(3, 4), lambda a: np.broadcast_to(a, (3, 4)), [r(1, 4)]),
    "clamp": (lambda a: a.clamp(-0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5), [r(10)]),
    "abs": (lambda a: a.abs(), np.abs, [r(6)]),
    "where": (lambda a, b: fastnn.where(a > 0, a, b), lambda a, b: np.where(a > 0, a, b), [r(6), r(6)]),
    "topk": (lambda a: a.topk(2, dim=1)[0], lambda a: -np.sort(-a, axis=1)[:, :2], [r(3, 5)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_backward_matches_central_differences(backend, name):
    fn, ref, arrays = CASES[name]
    check_grads(fn, ref, arrays, device=backend)


def test_gradients_accumulate_and_no_grad(backend):
    x = fastnn.tensor([1.0, 2.0], device=backend, requires_grad=True)
    (x * x).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), [2 + 3, 4 + 3])
    with fastnn.no_grad():
        y = x * 2
    assert not y.requires_grad and y.grad_fn is None
    z = x.detach() * 2
    assert not z.requires_grad


def test_shared_subexpression(backend):
    x = fastnn.tensor([0.5, -1.5], device=backend, dtype=fastnn.float64, requires_grad=True)
    y = x.tanh()
    (y * y + y).sum().backward()
    t = np.tanh([0.5, -1.5])
    np.testing.assert_allclose(x.grad.cpu().numpy(), (2 * t + 1) * (1 - t ** 2), rtol=1e-12)


def test_backward_twice_needs_retain_graph():
    x = fastnn.tensor([1.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.item() == 4.0
    z = (x * x).sum()
    z.backward()
    with pytest.raises(RuntimeError, match="second time"):
        z.backward()


@settings(max_examples=25, deadline=None)
@given(m=st.integers(0, 4), k=st.integers(0, 4), n=st.integers(0, 4), ta=st.booleans())
def test_matmul_backward_random_shapes(m, k, n, ta):
    rng2 = np.random.default_rng(m + 5 * k + 25 * n)
    a, b = rng2.standard_normal((m, k)), rng2.standard_normal((k, n))
    if ta:
        check_grads(lambda x, y: x.T.T @ y, lambda x, y: x @ y, [a, b])
    else:
        check_grads(lambda x, y: x @ y, lambda x, y: x @ y, [a, b])


def test_inplace_on_leaf_requiring_grad_is_refused():
    x = fastnn.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        x.add_(1)
    with fastnn.no_grad():
        x.add_(1)
    assert x.tolist() == [2.0, 2.0]

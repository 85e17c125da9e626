"""Tensor creation, dtypes, devices, NumPy interop and repr, against NumPy and torch's documented defaults."""
import numpy as np
import pytest

import fastnn


def test_default_dtypes(backend):
    assert fastnn.tensor([1, 2], device=backend).dtype == fastnn.int64
    assert fastnn.tensor([1.0, 2], device=backend).dtype == fastnn.float32
    assert fastnn.tensor([True], device=backend).dtype == fastnn.bool
    assert fastnn.tensor(np.zeros(2, np.float64), device=backend).dtype == fastnn.float64
    assert fastnn.ones(2, 3, device=backend).dtype == fastnn.float32
    assert fastnn.arange(5, device=backend).dtype == fastnn.int64
    assert fastnn.arange(0, 1, 0.25, device=backend).dtype == fastnn.float32
    assert fastnn.full((2,), 7, device=backend).dtype == fastnn.int64


def test_shapes_and_fill_values(backend):
    for fn, value in ((fastnn.zeros, 0), (fastnn.ones, 1)):
        t = fn(2, 3, device=backend)
        assert t.shape == (2, 3) and tuple(t.size()) == (2, 3) and t.ndim == 2 and t.numel() == 6
        np.testing.assert_array_equal(t.cpu().numpy(), np.full((2, 3), value, np.float32))
    assert fastnn.empty((4, 0), device=backend).shape == (4, 0)
    np.testing.assert_array_equal(fastnn.full((2, 2), 3.5, device=backend).cpu().numpy(), np.full((2, 2), 3.5))
    np.testing.assert_array_equal(fastnn.arange(1, 10, 3, device=backend).cpu().numpy(), np.arange(1, 10, 3))
    with pytest.raises(RuntimeError, match="negative dimension"):
        fastnn.zeros(2, -1, device=backend)


def test_like_functions_follow_the_input(backend):
    x = fastnn.randn(3, 4, dtype=fastnn.float64, device=backend)
    assert fastnn.zeros_like(x).dtype == fastnn.float64 and fastnn.ones_like(x).shape == (3, 4)
    r = fastnn.rand_like(x, dtype=fastnn.float32)
    assert r.dtype == fastnn.float32 and r.shape == (3, 4)
    a = r.cpu().numpy()
    assert a.min() >= 0 and a.max() < 1
    assert fastnn.randn_like(x).dtype == fastnn.float64
    with pytest.raises(TypeError):
        fastnn.rand(2, dtype=fastnn.int64)


def test_manual_seed_reproduces(backend):
    fastnn.manual_seed(7)
    a = fastnn.randn(5, device=backend).cpu().numpy()
    fastnn.manual_seed(7)
    b = fastnn.randn(5, device=backend).cpu().numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, fastnn.randn(5, device=backend).cpu().numpy())


def test_randn_statistics():
    x = fastnn.randn(200_000).numpy()
    assert abs(x.mean()) < 0.01 and abs(x.std() - 1) < 0.01


def test_from_numpy_shares_memory_both_ways():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    t = fastnn.from_numpy(a)
    assert t.dtype == fastnn.float64
    a[0, 0] = 100
    assert t[0, 0].item() == 100
    t.mul_(2)
    assert a[0, 0] == 200 and a[1, 2] == 10
    b = t.numpy()
    b[1, 1] = -1
    assert a[1, 1] == -1


def test_tensor_copies_its_input():
    a = np.ones(3, np.float32)
    t = fastnn.tensor(a)
    a[0] = 5
    assert t[0].item() == 1


def test_item_tolist_and_conversions(backend):
    t = fastnn.tensor([[1, 2], [3, 4]], device=backend)
    assert t.tolist() == [[1, 2], [3, 4]]
    assert t[1, 0].item() == 3 and isinstance(t[1, 0].item(), int)
    with pytest.raises(RuntimeError, match="4 elements"):
        t.item()
    assert t.float().dtype == fastnn.float32 and t.to(fastnn.float64).dtype == fastnn.float64
    assert t.to(backend).device == fastnn.device(backend)
    assert str(t.device) == backend


def test_repr_like_torch():
    assert repr(fastnn.tensor([[1.0, 2.0], [3.0, 4.0]])) == "tensor([[1., 2.],\n        [3., 4.]])"
    assert repr(fastnn.tensor([1, 2, 3])) == "tensor([1, 2, 3])"
    assert repr(fastnn.tensor([0.5, 0.25])) == "tensor([0.5000, 0.2500])"
    assert repr(fastnn.tensor([1.0], dtype=fastnn.float64)) == "tensor([1.], dtype=fastnn.float64)"
    x = fastnn.ones(2, requires_grad=True)
    assert repr(x) == "tensor([1., 1.], requires_grad=True)"
    assert "grad_fn=<MulBackward0>" in repr(x * 2)
    assert repr(fastnn.ones(2, 3).shape) == "fastnn.Size([2, 3])"


def test_unsupported_dtype_is_a_clear_type_error():
    with pytest.raises(TypeError, match="unsupported dtype"):
        fastnn.from_numpy(np.zeros(2, np.complex64))
    with pytest.raises(TypeError):
        fastnn.tensor([1.0], dtype="complex64")

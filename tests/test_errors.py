"""Bad input gets a clear error naming shapes, dtypes and devices (torch's wording), never a Numba traceback."""
import numpy as np
import pytest

import fastnn
from fastnn.backends import register_backend
from fastnn.backends.cpu import CPUBackend


def test_mm_shape_mismatch_names_both_shapes():
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(64x784 and 128x10\)"):
        fastnn.randn(64, 784) @ fastnn.randn(128, 10)


def test_bmm_and_dot_errors():
    with pytest.raises(RuntimeError, match="Expected size for first two dimensions of batch2"):
        fastnn.bmm(fastnn.randn(4, 2, 3), fastnn.randn(4, 2, 3))
    with pytest.raises(RuntimeError, match="3D tensors"):
        fastnn.bmm(fastnn.randn(2, 3), fastnn.randn(3, 2))
    with pytest.raises(RuntimeError, match="1D tensors expected, but got 2D and 1D"):
        fastnn.dot(fastnn.randn(2, 2), fastnn.randn(2))
    with pytest.raises(RuntimeError, match="inconsistent tensor size"):
        fastnn.dot(fastnn.randn(3), fastnn.randn(4))


def test_matmul_dtype_mismatch():
    with pytest.raises(RuntimeError, match="same dtype"):
        fastnn.ones(2, 2) @ fastnn.ones(2, 2, dtype=fastnn.int64)


def test_bad_dims():
    t = fastnn.randn(2, 3)
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"):
        t.sum(dim=2)
    with pytest.raises(IndexError):
        t.softmax(dim=5)
    with pytest.raises(TypeError, match="dim must be an int"):
        t.softmax(dim=1.5)


def test_unsupported_dtype_for_float_ops():
    with pytest.raises(TypeError, match="sigmoid is not implemented for dtype int64"):
        fastnn.tensor([1, 2]).sigmoid()
    with pytest.raises(TypeError, match="softmax is not implemented for dtype int64"):
        fastnn.tensor([[1, 2]]).softmax(1)
    with pytest.raises(RuntimeError, match="floating point"):
        fastnn.tensor([1, 2], requires_grad=True)


class _OtherCPU(CPUBackend):
    name = "other"


def test_mixing_devices_names_both():
    register_backend("other", _OtherCPU)
    a = fastnn.ones(2)
    b = fastnn.ones(2, device="other")
    assert str(b.device) == "other"
    with pytest.raises(RuntimeError, match="at least two devices, cpu and other"):
        a + b
    with pytest.raises(RuntimeError, match="at least two devices"):
        fastnn.ones(2, 2) @ fastnn.ones(2, 2, device="other")
    np.testing.assert_array_equal((a + b.to("cpu")).numpy(), [2, 2])


def test_unknown_device():
    with pytest.raises(RuntimeError, match="unknown device type 'tpu'"):
        fastnn.ones(2, device="tpu")

"""Shared fixtures: the `backend` fixture runs a test once per available device."""
import numpy as np
import pytest

import fastnn
from conftest_cuda import install_cuda_standin

install_cuda_standin()  # emulated cuda backend when no real GPU is usable


def _cuda_available():
    """A real GPU, or the emulated CuPy stand-in the tests install (tests/cupy_standin)."""
    try:
        from fastnn.backends import get_backend

        get_backend("cuda")
        return True
    except Exception:
        return False


DEVICES = ["cpu", "cuda"]


@pytest.fixture(params=DEVICES)
def backend(request):
    """The device name a test runs on ('cpu' always; 'cuda' when a GPU or the emulator is usable)."""
    if request.param == "cuda" and not _cuda_available():
        pytest.skip("cuda backend unavailable (no GPU and no emulated stand-in)")
    return request.param


@pytest.fixture(autouse=True)
def _seed():
    fastnn.manual_seed(0)
    np.random.seed(0)

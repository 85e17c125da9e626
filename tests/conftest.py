"""Shared fixtures: the `backend` fixture runs a test once per available device."""
import os

import numpy as np
import pytest

import fastnn
from conftest_cuda import emulator_skip_reason, install_cuda_standin

# `fastnn train` runs in tests compile the fused kernel in the foreground, as they did before the
# background compile existed (tests/test_warmup.py turns it on for its own subprocesses)
os.environ.setdefault("FASTNN_BACKGROUND_COMPILE", "0")
CUDA_STANDIN = install_cuda_standin()  # emulated cuda backend when no real GPU is usable


def _cuda_available():
    """A real GPU, or the emulated CuPy stand-in the tests install (tests/cupy_standin). False only
    when neither is registered (no GPU, no C++20 g++); a backend that is registered but fails to build
    is a bug and raises."""
    from conftest_cuda import real_gpu_available
    from fastnn.backends import get_backend

    if not (CUDA_STANDIN or real_gpu_available()):
        return False
    get_backend("cuda")
    return True


DEVICES = ["cpu", "cuda"]


@pytest.fixture(params=DEVICES)
def backend(request):
    """The device name a test runs on ('cpu' always; 'cuda' when a GPU or the emulator is usable)."""
    if request.param == "cuda" and not _cuda_available():
        pytest.skip(f"cuda backend unavailable: no usable GPU, and the {emulator_skip_reason()}")
    return request.param


@pytest.fixture(autouse=True)
def _seed():
    fastnn.manual_seed(0)
    np.random.seed(0)
